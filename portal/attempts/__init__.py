"""Attempts: recording what Testpress reports of one (reconciliation), flags, which attempt counts
(grading, standings), and the staff's views of many (listing, gradebook, dashboard).
"""
