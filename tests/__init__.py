from pathlib import Path

# The checkout the tests run from: where wsgi.py, the Makefile and gunicorn.conf.py are.
CHECKOUT = Path(__file__).resolve().parent.parent
# The golden signing vectors (a copy of ../shared/testpress/vectors.json, checked against it).
VECTORS_FILE = CHECKOUT / "tests" / "vectors.json"
