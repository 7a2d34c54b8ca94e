"""People: accounts and their roles, batches, the people list's search, the CSV import, one-time
password links.
"""
