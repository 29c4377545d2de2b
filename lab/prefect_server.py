"""Start and stop a self-hosted Prefect server (used by the demo and by the lab tests).

Facts applied (shared/notes/prefect-3.9.md): the address is set with PREFECT_SERVER_API_HOST/PORT (not --port
alone), analytics are disabled (no internet), the server needs 18-40 s to become healthy on 2 cores.

Database: a private PostgreSQL cluster in the server's home when Debian's postgresql is installed
(scripts/packages/ops.txt), else SQLite; ``POWEROPS_PREFECT_DB=sqlite|postgres`` chooses, and a
``PREFECT_SERVER_DATABASE_CONNECTION_URL`` already in the environment is used as it is. Why: on SQLite a flow
run created right after another one ended meets the server writing that run's events, gets HTTP 503
"database is locked", and Prefect's client waits 2 s before retrying. Measured against the lab servers, 6
back-to-back runs of a 14-task flow: 2.0-2.4 s each on SQLite, 0.33-0.39 s on PostgreSQL (an empty flow run:
0.14 s on both). The cluster listens on a unix socket only, in its own data directory (mode 0700, owner
postgres): no TCP port, no other local user can reach it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


PG_PORT = 5432  # only names the socket file (.s.PGSQL.5432) in the cluster's own directory: no TCP


def pg_bin() -> Path | None:
    """The bin directory of the newest installed PostgreSQL (Debian layout), if runuser is there too."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found and shutil.which("runuser") else None


def database_choice() -> str:
    """``external`` (a connection URL is in the environment), ``postgres`` or ``sqlite``."""
    want = os.environ.get("POWEROPS_PREFECT_DB", "auto")
    if want not in ("auto", "postgres", "sqlite"):
        raise ValueError(f"POWEROPS_PREFECT_DB must be auto, postgres or sqlite, not {want!r}")
    if os.environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        return "external"
    if want == "postgres" and pg_bin() is None:
        raise RuntimeError("POWEROPS_PREFECT_DB=postgres but PostgreSQL is not installed (scripts/packages/ops.txt)")
    if want == "auto":
        return "postgres" if pg_bin() is not None else "sqlite"
    return want


def _as_postgres(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=check)


def start_postgres(data: Path, tcp_port: int | None = None) -> str:
    """Start a PostgreSQL cluster in ``data`` (created the first time, owner postgres, trust authentication)
    with a ``prefect`` database; returns its SQLAlchemy URL. It listens on a unix socket in ``data`` only, or
    also on 127.0.0.1:``tcp_port`` when given. The parent of ``data`` must let postgres traverse it."""
    pg = pg_bin()
    if pg is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/packages/ops.txt)")
    if not (data / "PG_VERSION").exists():
        data.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(data, "postgres", "postgres")
        _as_postgres(str(pg / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8")
    port, listen = (tcp_port, "127.0.0.1") if tcp_port else (PG_PORT, "")
    if _as_postgres(str(pg / "pg_ctl"), "-D", str(data), "status", check=False).returncode != 0:
        r = _as_postgres(str(pg / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "120",
                         "-o", f"-p {port} -c listen_addresses='{listen}' -k {data}", "start", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start ({r.stderr.strip() or r.stdout.strip()}); see "
                               f"{data}/server.log")
    psql = ["psql", "-h", str(data), "-p", str(port), "-U", "postgres", "-tA", "-c"]
    if subprocess.run([*psql, "SELECT 1 FROM pg_database WHERE datname = 'prefect'"], capture_output=True,
                      text=True, check=True).stdout.strip() != "1":
        subprocess.run([*psql, "CREATE DATABASE prefect"], capture_output=True, text=True, check=True)
    if tcp_port:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{tcp_port}/prefect"
    return f"postgresql+asyncpg://postgres@/prefect?host={data}&port={PG_PORT}"


def stop_postgres(data: Path) -> bool:
    """Stop the cluster in ``data`` if it runs. True if it did."""
    pg = pg_bin()
    if pg is None or not (data / "postmaster.pid").exists():
        return False
    _as_postgres(str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop", check=False)
    return True


def stored_data(home: str) -> dict[str, bytes]:
    """Everything the server of ``home`` stored, by source, to search for leaked secrets: ``pg_dump`` of its
    private PostgreSQL database (plain SQL: values as stored, never compressed as in the data files), or its
    SQLite files (database and write-ahead log)."""
    data = Path(home) / "postgres"
    if (data / "postmaster.pid").exists():
        r = subprocess.run(["pg_dump", "-h", str(data), "-p", str(PG_PORT), "-U", "postgres", "prefect"],
                           capture_output=True, check=True)
        return {"pg_dump prefect": r.stdout}
    return {p.name: p.read_bytes() for p in sorted(Path(home).glob("*.db*"))}


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
    env = server_env(home, host, port)
    if database_choice() == "postgres":
        Path(home).chmod(Path(home).stat().st_mode | 0o111)  # postgres must traverse into home (not list it)
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = start_postgres(Path(home) / "postgres")
    log = open(Path(home) / "server.log", "ab")  # noqa: SIM115 - handed to the child
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    proc = subprocess.Popen(
        [prefect_bin, "server", "start", "--host", host, "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
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
    """Stop the server started with ``home`` (its whole process group), then its private PostgreSQL cluster if
    it has one. True if a server was running."""
    try:
        return _stop_server(home)
    finally:
        stop_postgres(Path(home) / "postgres")


def _stop_server(home: str) -> bool:
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
