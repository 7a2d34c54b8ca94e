"""The production package, as an institute installs it: the wheel in a fresh virtualenv,
gunicorn started with gunicorn.conf.py from a directory that is not the checkout."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests import CHECKOUT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The portal's wheel, built from the checkout as `pip install .` builds it."""
    folder = tmp_path_factory.mktemp("wheel")
    # No build isolation: the dev install's setuptools builds it, without a download.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(folder), str(CHECKOUT)], check=True, capture_output=True)
    (built,) = folder.glob("testpress_portal-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its python.

    The portal's dependencies come from this test run's environment, added to the path
    (a .pth file), so that nothing is downloaded. Only a path: that environment's own .pth
    files, which make the checkout's portal and the sandbox importable, are not read.
    """
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    return python


def server_environment(**extra) -> dict:
    """The variables a deployment sets, and nothing from the test run's PORTAL_* settings."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    return {**environment, "PORTAL_SECRET_KEY": "k" * 32, "WEB_CONCURRENCY": "1", **extra}


class Gunicorn:
    """gunicorn serving the installed portal with the checkout's gunicorn.conf.py."""

    def __init__(self, python: Path, workdir: Path, environment: dict):
        self.process = subprocess.Popen(
            [str(python), "-m", "gunicorn", "--config", str(CHECKOUT / "gunicorn.conf.py"),
             "--bind", "127.0.0.1:0", "wsgi:app"],
            cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self._wait_for_address()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            lines.append(line)
            if found := re.search(r"Listening at: (http://\S+)", line):
                return found.group(1)
            if not line and self.process.poll() is not None:
                break
        self.process.kill()
        raise AssertionError("gunicorn did not start:\n" + "".join(lines))

    def stop(self) -> tuple[str, str]:
        """Stop gracefully; return (access log, error log)."""
        self.process.send_signal(signal.SIGTERM)
        stdout, stderr = self.process.communicate(timeout=30)
        return stdout, stderr


@pytest.fixture
def gunicorn(installed, tmp_path):
    """Start gunicorn from an empty directory, on a database made by `flask --app portal init-db`."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    environment = server_environment(PORTAL_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/portal.sqlite")
    init = subprocess.run([str(installed), "-m", "flask", "--app", "portal", "init-db"],
                          cwd=workdir, env=environment, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    assert "Database ready" in init.stdout
    servers = []

    def start() -> Gunicorn:
        servers.append(Gunicorn(installed, workdir, environment))
        return servers[-1]

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_the_wheel_carries_templates_static_files_and_migrations_and_no_sandbox(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    checkout = {f"portal/{path.relative_to(CHECKOUT).as_posix()}"
                for folder in ("templates", "static") for path in (CHECKOUT / folder).rglob("*") if path.is_file()}
    migrations = {f"portal/migrations/{path.relative_to(CHECKOUT / 'portal' / 'migrations').as_posix()}"
                  for path in (CHECKOUT / "portal" / "migrations").rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts}
    # Every module of every package: a new package left out of pyproject's list is missed here.
    modules = {path.relative_to(CHECKOUT).as_posix() for path in (CHECKOUT / "portal").rglob("*.py")}

    assert modules <= names, sorted(modules - names)
    assert checkout <= names, sorted(checkout - names)
    assert migrations <= names, sorted(migrations - names)
    assert "wsgi.py" in names
    assert not [name for name in names if name.startswith(("testpress_sandbox/", "portal_demo"))]


def test_metrics_under_several_workers_sum_every_workers_requests(installed, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    folder = tmp_path / "metrics"  # named, so that it outlives the server: each worker's file is counted below
    environment = server_environment(PORTAL_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/portal.sqlite",
                                     WEB_CONCURRENCY="3", PORTAL_METRICS_TOKEN="t" * 24)
    subprocess.run([str(installed), "-m", "flask", "--app", "portal", "init-db"], cwd=workdir, env=environment,
                   check=True, capture_output=True)
    server = Gunicorn(installed, workdir, {**environment, "PROMETHEUS_MULTIPROC_DIR": str(folder)})
    try:
        with ThreadPoolExecutor(8) as pool, requests.Session():
            answers = list(pool.map(lambda _: requests.get(f"{server.url}/healthz", timeout=10).status_code,
                                    range(120)))
        scraped = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer " + "t" * 24}, timeout=10)
    finally:
        server.stop()

    assert answers == [200] * 120
    assert scraped.status_code == 200
    served = {sample.value for family in text_string_to_metric_families(scraped.text) for sample in family.samples
              if sample.name == "portal_requests_total" and sample.labels["endpoint"] == "health.healthz"}
    assert served == {120.0}
    # More than one worker answered them (a file of counts each): the figure is their sum.
    assert len(list(folder.glob("counter_*.db"))) >= 2


def test_the_installed_portal_serves_its_login_page_and_stylesheet_from_any_directory(gunicorn):
    server = gunicorn()
    page = requests.get(f"{server.url}/login", timeout=10)
    stylesheet = re.search(r'<link[^>]+href="([^"]+\.css[^"]*)"', page.text)
    css = requests.get(f"{server.url}{stylesheet.group(1)}", timeout=10) if stylesheet else None
    server.stop()

    assert page.status_code == 200
    assert "Log in" in page.text
    assert stylesheet, page.text
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")


def test_the_access_log_leaves_out_the_query_string_of_a_testpress_return(gunicorn):
    server = gunicorn()
    private = "email=asha%40example.com&first_name=Asha+Rao&hmac=5b1f0c9e2d7a4c3b"
    returned = requests.get(f"{server.url}/testpress/return?{private}", timeout=10)
    login = requests.get(f"{server.url}/login?next=%2Fexams%2F", timeout=10,
                         headers={"Referer": f"{server.url}/testpress/return?{private}"})
    access_log, error_log = server.stop()

    assert returned.status_code in (400, 404)  # refused, but it reached the portal and the log
    assert login.status_code == 200
    assert '"GET /testpress/return HTTP/1.1" 4' in access_log
    assert '"GET /login?next=%2Fexams%2F HTTP/1.1" 200' in access_log  # other queries are kept
    for secret in ("asha", "Asha", "5b1f0c9e2d7a4c3b", "hmac"):
        assert secret not in access_log + error_log


def test_the_access_log_shows_a_password_links_route_not_its_token(gunicorn):
    server = gunicorn()
    token = "Zk3q9Xv2LwR8yTn5bHc1mPa7sDf4gJh6kLo0iUe_Qw"
    opened = requests.get(f"{server.url}/password/{token}", timeout=10)
    refused = requests.post(f"{server.url}/password/{token}", data={"password": "x"}, timeout=10)
    login = requests.get(f"{server.url}/login", timeout=10, headers={"Referer": f"{server.url}/password/{token}"})
    access_log, error_log = server.stop()

    assert token not in access_log + error_log
    assert '"GET /password/<token> HTTP/1.1" 404' in access_log
    assert opened.status_code == 404 and opened.headers["Referrer-Policy"] == "no-referrer"
    assert refused.status_code in (400, 404) and login.status_code == 200


def test_nothing_in_the_portal_imports_the_sandbox_or_the_demo():
    """Not even inside a function, where the installed portal above would not notice."""
    imports = []
    for path in (CHECKOUT / "portal").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imports += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imports.append((path.name, node.module))
    assert imports  # the walk found the portal's own imports
    assert [(name, module) for name, module in imports
            if module.split(".")[0] in ("testpress_sandbox", "portal_demo")] == []
