"""Entry point for production servers: `gunicorn wsgi:app`."""

import sys

from portal import create_app
from portal.core.config import MissingSecretKey

try:
    app = create_app()
except MissingSecretKey as error:
    print(f"portal: {error}", file=sys.stderr)
    # 4 is gunicorn's "app failed to load": it stops instead of restarting workers forever.
    sys.exit(4)
