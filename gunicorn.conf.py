"""gunicorn's settings for the portal behind nginx: `gunicorn -c gunicorn.conf.py wsgi:app`.

gunicorn reads this file by itself when started from this folder. Anything here can be
changed without editing it: on the command line (`--bind 0.0.0.0:8000`, `--workers 4`), in
GUNICORN_CMD_ARGS, or for the number of workers in WEB_CONCURRENCY. The portal's own
settings (PORTAL_*) are separate: see the README.
"""

import os
import tempfile
from pathlib import Path

# /metrics sums its figures over the workers (portal.core.metrics): prometheus-client's
# multiprocess mode keeps each worker's values in files in one folder, which must be named
# before anything imports it. A folder of this server's own unless the operator names one
# (PROMETHEUS_MULTIPROC_DIR); emptied when gunicorn starts, removed when it stops.
_OWN_METRICS_FOLDER = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="portal-metrics-"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

from gunicorn.glogging import Logger  # noqa: E402

from portal.core.logs import loggable_target  # noqa: E402

# nginx, on the same machine, forwards to this; the portal never faces the internet itself.
bind = "127.0.0.1:8000"

# gunicorn's rule of thumb, 2 × cores + 1, for a server that waits on its database. Capped,
# because every worker holds its own database connections and ~60 MB: past a dozen, add a
# second server rather than workers (see the README on several app servers).
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * _cores + 1, 12)))

# No page waits on Testpress (the Admin API is called from cron), so a worker silent for 30 s
# is stuck: gunicorn kills and replaces it.
timeout = 30
# On a restart (SIGHUP) or stop (SIGTERM) a worker finishes what it is serving first.
graceful_timeout = 30
# Behind nginx, which keeps its upstream connections open.
keepalive = 5
# Replace each worker after about a thousand requests, so that slow leaks never add up; the
# jitter keeps the workers from all restarting at the same moment.
max_requests = 1000
max_requests_jitter = 100

# Both logs to the terminal (or journald, under systemd). The referrer is left out of the
# access line: a page's address can carry what AccessLogger hides below.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


class AccessLogger(Logger):
    """gunicorn's logger, with what portal.core.logs.loggable_target hides (a password link's
    token, a GET return's query) left out of every field that can carry it, whatever
    access_log_format is set to."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        raw = environ.get("RAW_URI", "")
        shown = loggable_target(raw)
        if shown != raw:
            path, _, query = shown.partition("?")
            atoms["r"] = f"{environ['REQUEST_METHOD']} {shown} {environ['SERVER_PROTOCOL']}"
            atoms["U"] = atoms["{path_info}e"] = path
            atoms["q"] = atoms["{query_string}e"] = query
            atoms["{raw_uri}e"] = shown
        for key in ("f", "{referer}i", "{http_referer}e"):
            if atoms.get(key) not in (None, "-"):
                atoms[key] = loggable_target(atoms[key])
        return atoms


logger_class = AccessLogger


def on_starting(server):
    # A previous run's counts are not this run's.
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_FOLDER:
        for leftover in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            leftover.unlink()
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).rmdir()
