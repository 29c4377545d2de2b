"""Lab component ``ops``: the process work pool, the deployments, worker(s) and the ticket service.

``up`` needs a Prefect API: it uses $PREFECT_API_URL when that server is healthy, else it starts the lab's
server (lab.cli.server_up). Processes are started in their own session and stopped by the PID recorded in
``<state_dir>/ops/*.pid``. The HMAC key and bearer token of the ticket service are generated once under
``<state_dir>/ops/`` (0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets as pysecrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lab.context import LabContext

TICKET_HOST = "127.0.0.1"
TICKET_PORT = int(os.environ.get("POWEROPS_TICKET_PORT", "4280"))
LAB_APPROVERS = ["ops-lead", "sre-oncall"]
REPO = Path(__file__).resolve().parent.parent


def ops_dir(lab: LabContext) -> Path:
    d = lab.state_dir / "ops"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _secret_file(path: Path, nbytes: int = 32) -> str:
    if not path.exists():
        path.write_text(pysecrets.token_urlsafe(nbytes) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def hmac_key(lab: LabContext) -> str:
    return _secret_file(ops_dir(lab) / "ticket-hmac-key")


def bearer_token(lab: LabContext) -> str:
    return _secret_file(ops_dir(lab) / "ticket-token")


def ticket_url(port: int = TICKET_PORT) -> str:
    return f"http://{TICKET_HOST}:{port}"


def _api_url(lab: LabContext) -> str:
    from lab import prefect_server as ps

    api = os.environ.get("PREFECT_API_URL")
    if api and ps.healthy(api):
        return api
    from lab.cli import server_up

    return server_up(lab)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def _pid(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
    except ValueError:
        return None
    return pid if _alive(pid) else None


def _spawn(lab: LabContext, name: str, argv: list[str], env: dict[str, str]) -> int:
    d = ops_dir(lab)
    pidfile = d / f"{name}.pid"
    pid = _pid(pidfile)
    if pid:
        return pid
    log = open(d / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(argv, env=env, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    pidfile.write_text(str(proc.pid))
    return proc.pid


def _stop(lab: LabContext, name: str, grace: float = 5.0) -> bool:
    pidfile = ops_dir(lab) / f"{name}.pid"
    pid = _pid(pidfile)
    pidfile.unlink(missing_ok=True)
    if not pid:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)   # the Prefect worker ignores SIGTERM for 40+ s
    return True


def base_env(api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PREFECT_API_URL=api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               POWEROPS_REPO=str(REPO), PYTHONPATH=str(REPO))
    return env


def start_worker(lab: LabContext, api_url: str, index: int = 1, pool: str = "powerops",
                 extra_env: dict[str, str] | None = None, limit: int | None = None) -> int:
    """A process worker (PID file worker-<index>.pid); ``limit`` = most flow runs it runs at once."""
    env = base_env(api_url)
    env.update(PREFECT_WORKER_QUERY_SECONDS="2", PREFECT_WORKER_PREFETCH_SECONDS="5",
               PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30", PREFECT_HOME=str(ops_dir(lab) / "worker-home"))
    env.update(extra_env or {})
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    argv = [prefect_bin, "worker", "start", "--pool", pool, "--type", "process", "--name", f"powerops-worker-{index}"]
    if limit:
        argv += ["--limit", str(limit)]
    return _spawn(lab, f"worker-{index}", argv, env)


def start_ticket_service(lab: LabContext, api_url: str, port: int = TICKET_PORT,
                         extra_env: dict[str, str] | None = None, timeout: float = 90.0) -> str:
    hmac_key(lab)
    bearer_token(lab)
    env = base_env(api_url)
    env.update(POWEROPS_TICKET_HMAC_KEYS_FILE=str(ops_dir(lab) / "ticket-hmac-key"),
               POWEROPS_TICKET_TOKENS_FILE=str(ops_dir(lab) / "ticket-token"))
    env.update(extra_env or {})
    uvicorn_bin = str(Path(sys.executable).with_name("uvicorn"))
    pid = _spawn(lab, "ticket-service", [uvicorn_bin, "--factory", "deployments.ticketing.app:create_app_from_env",
                                         "--host", TICKET_HOST, "--port", str(port), "--log-level", "warning"],
                 env)
    url = ticket_url(port)
    (ops_dir(lab) / "ticket-service.url").write_text(url + "\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url
        if not _alive(pid):
            raise RuntimeError(f"ticket service exited; see {ops_dir(lab) / 'ticket-service.log'}")
        time.sleep(0.3)
    raise RuntimeError(f"ticket service not healthy after {timeout:.0f}s; see {ops_dir(lab)}/ticket-service.log")


def up(lab: LabContext, workers: int = 1, ticket_port: int = TICKET_PORT) -> None:
    """Work pool + deployments + approvers variable + worker(s) + ticket service (idempotent)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.apply import deploy_all

    api = _api_url(lab)
    os.environ["PREFECT_API_URL"] = api
    with temporary_settings(updates={PREFECT_API_URL: api}):   # Prefect read the env at import time
        deploy_all()
        register_blocks(lab)
    for i in range(1, workers + 1):
        start_worker(lab, api, i)
    start_ticket_service(lab, api, ticket_port)


def down(lab: LabContext) -> None:
    _stop(lab, "ticket-service")
    for pidfile in sorted(ops_dir(lab).glob("worker-*.pid")):
        _stop(lab, pidfile.stem)


def status(lab: LabContext) -> list[str]:
    lines = []
    d = ops_dir(lab)
    names = ["ticket-service"] + sorted(p.stem for p in d.glob("worker-*.pid"))
    for n in names:
        pid = _pid(d / f"{n}.pid")
        lines.append(f"ops {n}: {'running pid ' + str(pid) if pid else 'not running'}")
    if _pid(d / "ticket-service.pid") and (d / "ticket-service.url").exists():
        url = (d / "ticket-service.url").read_text().strip()
        lines.append(f"ops ticket service: {url} (HMAC key {d / 'ticket-hmac-key'}, token {d / 'ticket-token'})")
    return lines


def register_blocks(lab: LabContext) -> list[str]:
    """The approver list (Prefect Variable powerops_approvers) unless one is set already."""
    from prefect.variables import Variable

    if Variable.get("powerops_approvers", default=None) is None:
        Variable.set("powerops_approvers", LAB_APPROVERS, overwrite=True)
    return ["variable:powerops_approvers"]


def submit_ticket(lab: LabContext, procedure: str, parameters: dict[str, object], ticket_id: str,
                  requester: str = "demo", url: str | None = None) -> dict[str, object]:
    """POST a ticket to the running ticket service, HMAC-signed with the lab key; returns the answer."""
    import json

    from core.ops import signing

    url = url or (ops_dir(lab) / "ticket-service.url").read_text().strip()
    body = json.dumps({"ticket_id": ticket_id, "procedure": procedure, "requester": requester,
                       "parameters": parameters}).encode()
    ts = str(int(time.time()))
    r = httpx.post(f"{url}/tickets", content=body, timeout=30, headers={
        "content-type": "application/json", signing.TIMESTAMP_HEADER: ts,
        signing.SIGNATURE_HEADER: signing.sign(hmac_key(lab).encode(), ts, body)})
    out: dict[str, object] = r.json()
    out["http_status"] = r.status_code
    return out


def wait_ticket(lab: LabContext, ticket_id: str, timeout: float = 600.0) -> dict[str, object]:
    """Poll the ticket's run until it is final; returns the last status."""
    url = (ops_dir(lab) / "ticket-service.url").read_text().strip()
    deadline = time.monotonic() + timeout
    st: dict[str, object] = {}
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/tickets/{ticket_id}", headers={"Authorization": f"Bearer {bearer_token(lab)}"},
                      timeout=30)
        if r.status_code == 200:
            st = r.json()
            if st.get("final"):
                return st
        time.sleep(1)
    return st


def demo_ticket(lab: LabContext) -> str:
    """The demo's ticket: a self-test run started like a change ticket would start it. One line to print."""
    tid = f"DEMO-{int(time.time())}"
    first = submit_ticket(lab, "selftest", {"target": "demo", "hold_seconds": 1}, tid)
    again = submit_ticket(lab, "selftest", {"target": "demo", "hold_seconds": 1}, tid)
    st = wait_ticket(lab, tid, timeout=300)
    return (f"ticket {tid}: HTTP {first['http_status']} -> run {first.get('flow_run_name')}, repeated delivery "
            f"HTTP {again['http_status']} same run={again.get('flow_run_id') == first.get('flow_run_id')}, "
            f"state {st.get('state')}; {first.get('ui_url')}")
