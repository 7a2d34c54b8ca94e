"""The bare baseline of `pages_bench.py`: Flask answering one short text, nothing else.

Served by the same gunicorn settings as the portal, so that the ratio between the two is
what the portal's own work costs on this host, whatever the host's speed that minute.
"""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"
