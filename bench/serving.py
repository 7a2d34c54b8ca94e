"""Serving an app under gunicorn and loading it with wrk, for the benchmarks that compare the
portal with a bare floor app under the same server (`pages_bench.py`, `webhook_bench.py`).

Every app is served from the checkout's root (`--chdir`), so that gunicorn.conf.py, which
gunicorn looks for in that folder, applies to the portal and to its floor alike, access log
included; only its max_requests is overridden (see `gunicorn`).
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import requests

from portal.core.logs import default_logging

ROOT = Path(__file__).resolve().parent.parent

# (answered, seconds) = load(url, seconds, connections, headers, bodies)
Load = Callable[..., tuple[int, float]]


def logging_to(log_path: Path) -> dict:
    """The portal's LOGGING setting for an app in the benchmark's own process: its default
    lines, to a file, as a server's would go to its log, rather than over the figures."""
    logging = default_logging()
    handler = logging["handlers"]["stderr"]
    del handler["stream"]
    logging["handlers"]["stderr"] = {**handler, "class": "logging.FileHandler", "filename": str(log_path)}
    return logging


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(app_spec: str, workers: int, log_path: Path, env: dict[str, str], *,
             options: tuple[str, ...] = ("--max-requests", "0"), ready: str = "/"):
    """`gunicorn -w workers` serving app_spec (sync workers, gunicorn's default) with
    gunicorn.conf.py and `options`; yields (URL, master's pid) once `ready` answers below 500.

    The default options turn off gunicorn.conf.py's max_requests: replacing each worker after a
    thousand requests would restart a floor app's workers every second, and the figures would
    measure workers booting (and the CPU read from /proc would lose the replaced workers' time).
    exam_day keeps production's, with options=().
    """
    port = free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--workers", str(workers),
             "--worker-class", "sync", *options, "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), app_spec],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url + ready, timeout=5).status_code < 500:
                        break
                except requests.RequestException:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"{app_spec} did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            yield url, server.pid
        finally:
            server.terminate()
            server.wait(30)


def workers_cpu(master: int) -> float | None:
    """CPU seconds the master's workers have used so far (Linux's /proc), or None elsewhere.

    Requests per second follow whatever else the host runs that minute; CPU time per request
    follows it far less, so both are printed.
    """
    try:
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        fields = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() for pid in workers]
    except OSError:
        return None
    return sum(int(f[11]) + int(f[12]) for f in fields) / os.sysconf("SC_CLK_TCK")  # utime + stime


# wrk's Lua script for POSTs: the bodies of a file, one a line, the threads taking turns
# through them (thread n sends lines n, n + threads, ...), so that no two send the same one.
POST_SCRIPT = """
local count = 0
function setup(thread)
  thread:set("first", count)
  count = count + 1
end
function init(args)
  bodies = {}
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  step, next_body = tonumber(args[2]), first
end
function request()
  local body = bodies[next_body % #bodies + 1]
  next_body = next_body + step
  return wrk.format("POST", nil, nil, body)
end
"""
WRK_THREADS = 2


def wrk(url: str, seconds: float, connections: int, headers: dict[str, str],
        bodies: Path | None = None) -> tuple[int, float]:
    """(requests answered, seconds taken): GETs of url, or POSTs of the lines of `bodies`."""
    command = ["wrk", "--threads", str(WRK_THREADS), "--connections", str(connections), "--duration", f"{seconds:g}s"]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    if bodies is not None:
        script = bodies.with_name("post.lua")
        script.write_text(POST_SCRIPT)
        command += ["--script", str(script), url, "--", str(bodies), str(WRK_THREADS)]
    else:
        command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        sys.exit(f"errors while loading {url}:\n{output}")
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    return int(found.group(1)), float(found.group(2)) / (1000 if found.group(3) == "ms" else 1)


def python_load(url: str, seconds: float, connections: int, headers: dict[str, str],
                bodies: Path | None = None) -> tuple[int, float]:
    """The stand-in for wrk: keep-alive connections in threads, counting 200 answers; the
    connections take turns through the bodies as wrk's threads do."""
    target = urlsplit(url)
    lines = bodies.read_bytes().splitlines() if bodies is not None else []
    done, stop = [0] * connections, time.perf_counter() + seconds

    def run(slot: int) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        position = slot
        while time.perf_counter() < stop:
            if lines:
                connection.request("POST", target.path or "/", body=lines[position % len(lines)],
                                   headers={**headers, "Content-Type": "application/json"})
                position += connections
            else:
                connection.request("GET", target.path or "/", headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"{url} answered {response.status}")
            done[slot] += 1

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - started


class Target(NamedTuple):
    """What one load measures: GETs of url, or POSTs of the lines of the file `bodies()` answers
    (asked anew before every load, so that a load may be given bodies never sent before)."""

    label: str
    url: str
    master: int  # gunicorn's pid, whose workers' CPU time is read
    headers: dict[str, str]
    bodies: Callable[[], Path] | None = None


def interleaved(targets: Sequence[Target], load: Load, rounds: int, seconds: float,
                connections: int) -> tuple[dict, dict]:
    """Load every target one after the other, a warm-up pass (every worker fills its pools and
    caches) and then `rounds` rounds, so that a host slowing down for a minute slows them all;
    answer ({label: [req/s per round]}, {label: [worker CPU ms per request per round]})."""

    def run(target: Target, seconds: float) -> tuple[int, float]:
        return load(target.url, seconds, connections, target.headers, target.bodies() if target.bodies else None)

    for target in targets:
        run(target, 1)
    rates: dict[str, list[float]] = {target.label: [] for target in targets}
    cpu: dict[str, list[float]] = {target.label: [] for target in targets}
    for _ in range(rounds):
        for target in targets:
            before = workers_cpu(target.master)
            answered, taken = run(target, seconds)
            after = workers_cpu(target.master)
            rates[target.label].append(answered / taken)
            if before is not None and after is not None:
                cpu[target.label].append((after - before) * 1000 / answered)
    return rates, cpu


def report(rates: dict[str, list[float]], cpu: dict[str, list[float]], floor: str, heading: str = "page") -> str:
    """The table: median req/s and its ratio to the floor's; median worker CPU per request and
    the floor's share of it (the same ratio, as CPU, which a busy host disturbs less)."""
    rate = {label: statistics.median(values) for label, values in rates.items()}
    cost = {label: statistics.median(values) for label, values in cpu.items() if values}
    width = max(20, *map(len, rates))
    lines = [f"{heading:<{width}} {'req/s':>7} {'ratio':>6}  {'CPU ms/req':>10} {'ratio':>6}   rounds (req/s)"]
    for label, values in rates.items():
        cpu_part = (f"{cost[label]:>10.2f} {cost[floor] / cost[label]:>5.2f}x"
                    if label in cost and floor in cost else f"{'-':>10} {'-':>6}")
        lines.append(f"{label:<{width}} {rate[label]:>7.0f} {rate[label] / rate[floor]:>5.2f}x  {cpu_part}   "
                     + " ".join(f"{value:.0f}" for value in values))
    return "\n".join(lines)
