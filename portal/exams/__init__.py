"""Exams: their rules (who may take one, when, how many times) and their precomputed figures.
"""
