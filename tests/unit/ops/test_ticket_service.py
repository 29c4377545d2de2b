"""The ticket service against a fake Prefect backend (no sockets): auth, validation, idempotency, decisions."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.ops import signing
from deployments.ticketing.app import Settings, create_app
from deployments.ticketing.backend import RunInfo

KEY = b"unit-test-key"


class FakeBackend:
    """Answers only what the service is expected to ask; records every call."""

    def __init__(self) -> None:
        self.runs: dict[str, RunInfo] = {}
        self.by_key: dict[str, str] = {}
        self.calls: list[tuple[str, Any]] = []
        self.resumed: list[dict[str, Any]] = []

    async def create_run(self, deployment: str, parameters: dict[str, Any], idempotency_key: str,
                         tags: list[str]) -> RunInfo:
        self.calls.append(("create_run", deployment))
        if idempotency_key in self.by_key:
            return self.runs[self.by_key[idempotency_key]]
        rid = f"00000000-0000-0000-0000-{len(self.runs):012d}"
        self.runs[rid] = RunInfo(rid, f"run-{len(self.runs)}", "Scheduled", "SCHEDULED", None, False,
                                 dt.datetime.now(dt.UTC), parameters)
        self.by_key[idempotency_key] = rid
        return self.runs[rid]

    async def read_run(self, run_id: str) -> RunInfo:
        return self.runs[run_id]

    async def find_ticket_run(self, ticket_id: str) -> RunInfo | None:
        rid = self.by_key.get(f"ticket:{ticket_id}")
        return self.runs[rid] if rid else None

    async def open_ticket_runs(self) -> list[RunInfo]:
        return []

    async def resume(self, run_id: str, run_input: dict[str, Any]) -> str:
        self.resumed.append(run_input)
        return "ACCEPT"

    async def approvers(self) -> list[str]:
        return ["ops-lead", "alice"]

    async def summary_markdown(self, run_id: str) -> str | None:
        return None

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def svc() -> Any:
    backend = FakeBackend()
    app = create_app(Settings(hmac_keys=[KEY], bearer_tokens=["tok"], ui_url="http://ui"), backend)
    with TestClient(app) as client:
        yield client, backend


def signed(payload: Any, key: bytes = KEY, ts: int | None = None) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    t = str(ts or int(time.time()))
    return {"content": body, "headers": {"content-type": "application/json", signing.TIMESTAMP_HEADER: t,
                                         signing.SIGNATURE_HEADER: signing.sign(key, t, body)}}


GOOD = {"ticket_id": "CHG100", "procedure": "lpm-readiness", "requester": "alice",
        "parameters": {"hmc_block": "lab-hmc", "source_system": "s1", "target_system": "s2", "lpar": "l1"}}


def test_good_ticket_then_duplicate(svc: Any) -> None:
    client, backend = svc
    r = client.post("/tickets", **signed(GOOD))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False and body["ui_url"] == f"http://ui/runs/flow-run/{body['flow_run_id']}"
    timing = dict(p.strip().split(";dur=") for p in r.headers["server-timing"].split(","))
    assert set(timing) == {"prefect-api", "service"} and all(float(v) >= 0 for v in timing.values())
    run = backend.runs[body["flow_run_id"]]
    assert run.parameters["ops"] == {"ticket_id": "CHG100", "requester": "alice"}
    assert run.parameters["params"]["lpar"] == "l1"
    r2 = client.post("/tickets", **signed(GOOD))
    assert r2.status_code == 200 and r2.json()["flow_run_id"] == body["flow_run_id"] and r2.json()["duplicate"]
    assert [c for c in backend.calls if c[0] == "create_run"] == [("create_run", "ops-lpm-readiness/lpm-readiness")]
    changed = dict(GOOD, parameters=dict(GOOD["parameters"], lpar="other"))
    r3 = client.post("/tickets", **signed(changed))
    assert r3.status_code == 409 and "other parameters" in r3.json()["error"]


def test_bad_signature_and_stale(svc: Any) -> None:
    client, backend = svc
    n = len(backend.calls)
    assert client.post("/tickets", **signed(dict(GOOD, ticket_id="CHG101"), key=b"wrong")).status_code == 401
    assert client.post("/tickets", **signed(dict(GOOD, ticket_id="CHG102"), ts=int(time.time()) - 3600)
                       ).status_code == 401
    r = client.post("/tickets", content=json.dumps(GOOD).encode())
    assert r.status_code == 401 and "missing" in r.json()["error"]
    assert len(backend.calls) == n


def test_bearer_token(svc: Any) -> None:
    client, _ = svc
    payload = dict(GOOD, ticket_id="CHG103")
    assert client.post("/tickets", json=payload, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/tickets", json=payload, headers={"Authorization": "Bearer tok"}).status_code == 201
    st = client.get("/tickets/CHG103", headers={"Authorization": "Bearer tok"})
    assert st.status_code == 200 and st.json()["state"] == "Scheduled"
    assert client.get("/tickets/CHG103").status_code == 401


def test_bad_parameters_list_every_error(svc: Any) -> None:
    client, backend = svc
    n = len(backend.calls)
    bad = dict(GOOD, ticket_id="CHG104", parameters={"hmc_block": "h", "lpar": 5, "colour": "red"})
    r = client.post("/tickets", **signed(bad))
    assert r.status_code == 422
    locs = {e["loc"] for e in r.json()["errors"]}
    assert locs == {"parameters.colour", "parameters.source_system", "parameters.target_system",
                    "parameters.lpar"}
    r = client.post("/tickets", **signed(dict(GOOD, ticket_id="CHG105", procedure="nope")))
    assert r.status_code == 404 and "lpm-readiness" in r.json()["errors"][0]["msg"]
    assert len(backend.calls) == n


def test_decision_needs_a_paused_run_and_is_judged(svc: Any) -> None:
    client, backend = svc
    r = client.post("/tickets", **signed(dict(GOOD, ticket_id="CHG106")))
    rid = r.json()["flow_run_id"]
    d = {"approver": "ops-lead", "approve": True}
    assert client.post("/tickets/CHG106/decision", **signed(d)).status_code == 409   # not paused yet
    backend.runs[rid].state, backend.runs[rid].state_type = "Paused", "PAUSED"
    r = client.post("/tickets/CHG106/decision", **signed({"approver": "alice", "approve": True}))
    assert r.status_code == 403 and "requested this run" in r.json()["reason"]
    r = client.post("/tickets/CHG106/decision", **signed(d))
    assert r.status_code == 200 and r.json()["outcome"] == "approved"
    assert backend.resumed[-2:] == [{"approver": "alice", "approve": True, "comment": ""},
                                    {"approver": "ops-lead", "approve": True, "comment": ""}]
    assert client.post("/tickets/CHG106/decision", **signed({"approver": "x"})).status_code == 422
    assert client.post("/tickets/NOPE/decision", **signed(d)).status_code == 404
