from pathlib import Path

# The checkout the tests run from: where wsgi.py, the Makefile and gunicorn.conf.py are.
CHECKOUT = Path(__file__).resolve().parent.parent
