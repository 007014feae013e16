"""app_process.py: the demo app as a process under test, for the load and memory benchmarks: start
`python app.py` on a free loopback port, wait until it answers, read its memory and CPU time from /proc,
stop it; and print their report and append it to BENCHMARKS.md."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class App:
    """The app under test: its address, its process and the log both its streams go to."""

    url: str
    process: subprocess.Popen
    log: IO[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of process `pid` in MiB: now (VmRSS), or its peak so far (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by process `pid`, or by this process (all its threads)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the app did not answer at {url} within {timeout:.0f} s")


def start_app(model: str | None, serving: list[str]) -> App:
    """Start `python app.py` on a free loopback port (not yet waited for); `model`: the one model to serve
    (None: the zoo); `serving`: its other flags."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = open(ROOT / "benchmarks" / ".load-app.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), *(["--model", model] if model else []), "--port", str(port), *serving],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    return App(f"http://127.0.0.1:{port}/", process, log)


def stop_app(app: App) -> None:
    app.process.terminate()
    try:
        app.process.wait(10)
    except subprocess.TimeoutExpired:
        app.process.kill()
    app.log.close()


def publish(lines: list[str], output: str, write: bool = True) -> None:
    """Print the report `lines` and, if `write`, append them to the file `output`."""
    print("\n".join(lines))
    if write:
        with open(output, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
