"""The two endpoints Testpress's side calls, exempt from CSRF: the browser return and the webhook.
"""
