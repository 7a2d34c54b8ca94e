"""The web: one blueprint per audience (student, auth, admin, the Testpress endpoints) and the
request and presentation helpers they share (forms, inputs, pagination, formatting, charts, errors).
"""
