"""Start and stop a self-hosted Prefect server (used by the demo and by the lab tests).

Facts applied (shared/notes/prefect-3.9.md): the address is set with PREFECT_SERVER_API_HOST/PORT (not --port
alone), analytics are disabled (no internet), the server needs 18-40 s to become healthy on 2 cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ServerInfo:
    api_url: str
    ui_url: str
    pid: int
    home: str


def server_env(home: str, host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=home,
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL=f"http://{host}:{port}/api",
        PREFECT_UI_API_URL=f"http://{host}:{port}/api",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


def healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(home: str, host: str = "127.0.0.1", port: int = 4200, timeout: float = 180.0) -> ServerInfo:
    """Start ``prefect server start`` in the background (idempotent: reuses a healthy server on the port)."""
    Path(home).mkdir(parents=True, exist_ok=True)
    api_url = f"http://{host}:{port}/api"
    pidfile = Path(home) / "server.pid"
    if healthy(api_url):
        pid = int(pidfile.read_text()) if pidfile.exists() else -1
        return ServerInfo(api_url, f"http://{host}:{port}", pid, home)
    log = open(Path(home) / "server.log", "ab")  # noqa: SIM115 - handed to the child
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    proc = subprocess.Popen(
        [prefect_bin, "server", "start", "--host", host, "--port", str(port)],
        env=server_env(home, host, port), stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Prefect server exited with {proc.returncode}; see {home}/server.log")
        if healthy(api_url):
            return ServerInfo(api_url, f"http://{host}:{port}", proc.pid, home)
        time.sleep(0.5)
    stop(home)
    raise RuntimeError(f"Prefect server not healthy after {timeout:.0f}s; see {home}/server.log")


def stop(home: str) -> bool:
    """Stop the server started with ``home`` (its whole process group). True if one was running."""
    pidfile = Path(home) / "server.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text())
    pidfile.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
