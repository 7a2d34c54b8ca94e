"""The infrastructure every concern stands on: settings, the database and its locks, time, logs,
rate limits, backups, password hashing, CSV files, the audit log. Nothing here knows an exam.
"""
