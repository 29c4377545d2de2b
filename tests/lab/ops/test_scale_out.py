"""Scale-out tier: the same deployments on a Prefect server backed by PostgreSQL (Debian's postgresql, started
here), two workers (one run at a time each, so both must work), the ticket service, and a fan-out flow on a
local Dask cluster (prefect-dask). Bounded: ~3-5 minutes on 2 cores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Stack, free_port

pytestmark = pytest.mark.lab



@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    from lab import prefect_server as ps

    if ps.pg_bin() is None:
        pytest.fail("PostgreSQL is not installed (scripts/packages/ops.txt; run scripts/bootstrap.sh)")
    parent = Path(tempfile.mkdtemp(prefix="powerops-pg-"))
    parent.chmod(0o711)
    data = parent / "cluster"
    try:
        # on TCP too: the fan-out below probes its port as one of the open endpoints
        yield ps.start_postgres(data, tcp_port=free_port())
    finally:
        ps.stop_postgres(data)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_stack(postgres: str, prefect_server: str) -> Iterator[Stack]:
    """A second Prefect server on PostgreSQL, two workers and a ticket service in front of it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.apply import deploy_all
    from lab import ops
    from lab import prefect_server as ps
    from lab.context import LabContext

    home = tempfile.mkdtemp(prefix="powerops-pg-prefect-")
    os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = postgres
    try:
        info = ps.start(home, port=free_port(), timeout=300)
    finally:
        os.environ.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL")
    state = tempfile.mkdtemp(prefix="powerops-pg-ops-")
    lab = LabContext(state_dir=Path(state) / "state", run_dir=Path(state) / "run")
    try:
        with temporary_settings(updates={PREFECT_API_URL: info.api_url}):
            deploy_all()
            ops.register_blocks(lab)
            for i in (1, 2):
                ops.start_worker(lab, info.api_url, i, limit=1)
            url = ops.start_ticket_service(lab, info.api_url, free_port(), extra_env={
                "POWEROPS_TICKET_POLL_SECONDS": "0.5"})
            yield Stack(info.api_url, url, ops.hmac_key(lab).encode(), ops.bearer_token(lab), lab, home)
    finally:
        ops.down(lab)
        ps.stop(home)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


def _fanout(stack: Stack, postgres: str, runner: str) -> None:
    """fleet-reachability over 12 endpoints (8 open: PostgreSQL and the API; 4 closed) on ``runner``."""
    pg_port = postgres.rsplit(":", 1)[1].split("/")[0]
    api_port = stack.api.rsplit(":", 1)[1].split("/")[0]
    fan = f"PG-fan-{runner}-{uuid.uuid4().hex[:6]}"
    r = stack.post("/tickets", {"ticket_id": fan, "procedure": "fleet-reachability", "requester": "alice",
                                "parameters": {"endpoints": [f"127.0.0.1:{pg_port}", f"127.0.0.1:{api_port}",
                                                             "127.0.0.1:1"] * 4,
                                               "runner": runner, "dask_workers": 2, "timeout_s": 2}})
    assert r.status_code == 201, r.text
    done = stack.wait_state(fan, {"COMPLETED", "FAILED", "CRASHED"}, timeout=600)
    assert done["state"] == "Completed", done
    fr = done["flow_run_id"]
    subs = stack.api_post("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [fr]}}})
    assert len(subs) == 1
    arts = stack.api_post("/artifacts/filter", {"artifacts": {"key": {"any_": ["fleet-reachability"]},
                                                              "flow_run_id": {"any_": [subs[0]["id"]]}}})
    assert arts, "no fleet-reachability artifact"
    rows = arts[0]["data"] if isinstance(arts[0]["data"], list) else json.loads(arts[0]["data"])
    assert sum(1 for r in rows if r["reachable"]) == 8 and sum(1 for r in rows if not r["reachable"]) == 4
    summary = stack.api_post("/artifacts/filter", {"artifacts": {"key": {"any_": ["run-summary"]},
                                                                 "flow_run_id": {"any_": [fr]}}})
    assert "| reachable | 8 |" in summary[0]["data"]


def test_postgres_two_workers(pg_stack: Stack, postgres: str) -> None:
    run_id = uuid.uuid4().hex[:6]
    tickets = [f"PG-{run_id}-{i}" for i in range(4)]
    for t in tickets:
        r = pg_stack.post("/tickets", {"ticket_id": t, "procedure": "selftest", "requester": "alice",
                                       "parameters": {"target": t, "hold_seconds": 8}})
        assert r.status_code == 201, r.text
    for t in tickets:
        done = pg_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"}, timeout=600)
        assert done["state"] == "Completed", done

    # both workers ran flow runs (each takes one at a time)
    logs = {p.stem: p.read_text() for p in (pg_stack.lab.state_dir / "ops").glob("worker-*.log")}
    assert set(logs) == {"worker-1", "worker-2"}
    for name, text in logs.items():
        assert "submitting flow run" in text, f"{name} ran nothing"

    _fanout(pg_stack, postgres, "threads")

    # the runs are in PostgreSQL
    pg_port = postgres.rsplit(":", 1)[1].split("/")[0]
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", pg_port, "-U", "postgres", "-d", "prefect", "-tAc",
                          "SELECT count(*) FROM flow_run"], capture_output=True, text=True, check=True).stdout
    assert int(out.strip()) >= 10


def test_dask_fanout(pg_stack: Stack, postgres: str) -> None:
    pytest.importorskip("prefect_dask", reason="prefect-dask is not installed (a pyproject dependency)")
    _fanout(pg_stack, postgres, "dask")
