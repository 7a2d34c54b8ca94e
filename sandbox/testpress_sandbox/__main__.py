"""``python -m testpress_sandbox [--host localhost] [--port 5001]``: initialise the database and serve."""

import argparse

from . import create_app
from .seed import init_db


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m testpress_sandbox", description=__doc__)
    parser.add_argument("--host", default="localhost", help="serve on this name (default: localhost, so the browser "
                        "sees a different site from the portal on 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5001)
    options = parser.parse_args()
    app = create_app()
    with app.app_context():
        init_db()
    app.run(host=options.host, port=options.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
