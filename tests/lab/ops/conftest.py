"""The ops stack for lab tests: deployments on the session's Prefect server, one worker, the ticket service,
and a real callback receiver. Stopped (by PID) at the end of the session."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ops import signing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    api: str
    url: str
    key: bytes
    token: str
    lab: Any
    home: str

    def post(self, path: str, payload: Any, key: bytes | None = None) -> httpx.Response:
        body = json.dumps(payload).encode()
        ts = str(int(time.time()))
        return httpx.post(self.url + path, content=body, timeout=30, headers={
            "content-type": "application/json", signing.TIMESTAMP_HEADER: ts,
            signing.SIGNATURE_HEADER: signing.sign(key or self.key, ts, body)})

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def wait_state(self, ticket_id: str, types: set[str], timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = self.get(f"/tickets/{ticket_id}")
            if r.status_code == 200:
                last = r.json()
                if last["state_type"] in types:
                    return last
            time.sleep(0.5)
        raise AssertionError(f"ticket {ticket_id} never reached {types}; last: {last}")

    def api_post(self, path: str, body: Any) -> Any:
        for _ in range(10):   # SQLite: 503 'database is locked' now and then
            r = httpx.post(self.api + path, json=body, timeout=30)
            if r.status_code != 503:
                r.raise_for_status()
                return r.json()
            time.sleep(0.5)
        raise AssertionError(f"{path}: 503 ten times")


@pytest.fixture(scope="session")
def ops_stack(prefect_server: str) -> Iterator[Stack]:
    from deployments.apply import deploy_all
    from lab import ops
    from lab.context import LabContext

    state = tempfile.mkdtemp(prefix="powerops-ops-test-")
    lab = LabContext(state_dir=Path(state) / "state", run_dir=Path(state) / "run")
    deploy_all()
    ops.register_blocks(lab)
    ops.start_worker(lab, prefect_server, 1)
    url = ops.start_ticket_service(lab, prefect_server, free_port(), extra_env={
        "POWEROPS_TICKET_CALLBACK_DELAY": "0.5", "POWEROPS_TICKET_POLL_SECONDS": "0.5"})
    import os

    stack = Stack(prefect_server, url, ops.hmac_key(lab).encode(), ops.bearer_token(lab), lab,
                  os.environ.get("POWEROPS_TEST_PREFECT_HOME", ""))
    try:
        yield stack
    finally:
        ops.down(lab)


@dataclass
class Receiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_first: int = 1
    hits: int = 0


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A real HTTP callback receiver on loopback; answers 500 to the first delivery (to prove the retry)."""
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}/callback")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            rec.hits += 1
            if rec.hits <= rec.fail_first:
                self.send_response(500)
                self.end_headers()
                return
            rec.received.append(json.loads(body))
            rec.headers.append({k.lower(): v for k, v in self.headers.items()} | {"_raw": body.decode()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield rec
    finally:
        srv.shutdown()
        srv.server_close()
