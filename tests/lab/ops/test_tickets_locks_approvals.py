"""Real server, real worker, real ticket service: tickets (good, bad signature, bad parameters, duplicate),
outcome callback to a real receiver, lock contention between two runs, approve / refuse / deny."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from core.ops import signing
from core.ops.locks import holder_variable_name, make_key

from .conftest import Receiver, Stack

pytestmark = pytest.mark.lab


def tid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def selftest(ticket: str, requester: str = "alice", **params: Any) -> dict[str, Any]:
    return {"ticket_id": ticket, "procedure": "selftest", "requester": requester, "parameters": params}


def test_ticket_lifecycle_with_callback(ops_stack: Stack, receiver: Receiver) -> None:
    t = tid("CHG")
    payload = dict(selftest(t, target=t), callback_url=receiver.url)
    t0 = time.monotonic()
    r = ops_stack.post("/tickets", payload)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["ui_url"].endswith(f"/runs/flow-run/{run['flow_run_id']}") and run["duplicate"] is False

    dup = ops_stack.post("/tickets", payload)            # a repeated delivery returns the same run
    assert dup.status_code == 200 and dup.json()["flow_run_id"] == run["flow_run_id"]

    bad = ops_stack.post("/tickets", dict(payload, ticket_id=tid("CHG")), key=b"not-the-key")
    assert bad.status_code == 401 and "signature" in bad.json()["error"]

    wrong = ops_stack.post("/tickets", selftest(tid("CHG"), hold_seconds=-1, colour="red", target=5))
    assert wrong.status_code == 422
    locs = {e["loc"] for e in wrong.json()["errors"]}
    assert {"parameters.hold_seconds", "parameters.colour", "parameters.target"} <= locs

    ops_stack.wait_state(t, {"RUNNING", "COMPLETED"}, timeout=120)
    print(f"ticket -> running/completed in {time.monotonic() - t0:.1f} s")
    done = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state"] == "Completed", done

    deadline = time.monotonic() + 60
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.3)
    assert receiver.hits >= 2, "the first delivery got a 500: the service must retry"
    got = receiver.received[0]
    assert got["ticket_id"] == t and got["state"] == "Completed" and got["flow_run_id"] == run["flow_run_id"]
    assert "## selftest: Completed" in (got["summary_markdown"] or "")
    h = receiver.headers[0]
    signing.verify_signature([ops_stack.key], h["x-powerops-timestamp"], h["_raw"].encode(),
                             h["x-powerops-signature"], time.time())
    st = ops_stack.get(f"/tickets/{t}").json()
    assert st["callback"]["status"] == "delivered" and st["callback"]["attempts"] >= 2


def test_failed_run_is_reported(ops_stack: Stack, receiver: Receiver) -> None:
    receiver.fail_first = 0
    t = tid("INC")
    assert ops_stack.post("/tickets", dict(selftest(t, target=t, fail=True), callback_url=receiver.url)
                          ).status_code == 201
    done = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state"] == "Failed"
    deadline = time.monotonic() + 60
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.3)
    assert receiver.received and receiver.received[0]["state"] == "Failed"


def test_lock_contention(ops_stack: Stack) -> None:
    target = tid("target")
    a, b, c = tid("CHG-A"), tid("CHG-B"), tid("CHG-C")
    assert ops_stack.post("/tickets", selftest(a, target=target, hold_seconds=25)).status_code == 201
    ra = ops_stack.wait_state(a, {"RUNNING"}, timeout=120)
    holder = holder_variable_name(make_key("selftest", [target]))
    deadline = time.monotonic() + 60
    while httpx.get(f"{ops_stack.api}/variables/name/{holder}", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "A never recorded itself as the holder of the target"
        time.sleep(0.5)
    assert ops_stack.post("/tickets", dict(selftest(b, target=target), on_lock_busy="fail")).status_code == 201
    assert ops_stack.post("/tickets", dict(selftest(c, target=target), on_lock_busy="wait")).status_code == 201
    rb = ops_stack.wait_state(b, {"COMPLETED", "FAILED", "CRASHED"})
    assert rb["state"] == "Failed", rb
    assert ra["flow_run_name"] in rb["message"] and a in rb["message"], rb["message"]   # names the holder
    rc = ops_stack.wait_state(c, {"COMPLETED", "FAILED", "CRASHED"})
    assert rc["state"] == "Completed", rc
    done_a = ops_stack.wait_state(a, {"COMPLETED", "FAILED", "CRASHED"})
    assert done_a["state"] == "Completed"
    runs = {r["id"]: r for r in ops_stack.api_post("/flow_runs/filter", {"flow_runs": {"id": {"any_": [
        ra["flow_run_id"], rc["flow_run_id"]]}}})}
    end_a = runs[ra["flow_run_id"]]["end_time"]
    # the flow-run process ships its logs in batches: the run may read Completed before its last batch lands
    deadline = time.monotonic() + 60
    while True:
        logs = ops_stack.api_post("/logs/filter", {"logs": {"flow_run_id": {"any_": [rc["flow_run_id"]]}},
                                                   "sort": "TIMESTAMP_ASC", "limit": 200})
        taken = [x for x in logs if "locks taken after" in x["message"]]
        if taken or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert taken and taken[0]["timestamp"] >= end_a[:19], (taken, end_a)   # C got the target after A ended


def test_approval_refused_then_approved_and_recorded(ops_stack: Stack) -> None:
    t = tid("CHG-APPR")
    # the requester is an approver too, but may not approve their own ticket
    assert ops_stack.post("/tickets", selftest(t, requester="ops-lead", target=t, disruptive=True)
                          ).status_code == 201
    st = ops_stack.wait_state(t, {"PAUSED", "FAILED", "CRASHED"}, timeout=150)
    assert st["state_type"] == "PAUSED", st
    r = ops_stack.post(f"/tickets/{t}/decision", {"approver": "ops-lead", "approve": True})
    assert r.status_code == 403 and "cannot approve" in r.json()["reason"]
    ops_stack.wait_state(t, {"PAUSED"}, timeout=60)
    r = ops_stack.post(f"/tickets/{t}/decision", {"approver": "mallory", "approve": True})
    assert r.status_code == 403 and "not on the approver list" in r.json()["reason"]
    ops_stack.wait_state(t, {"PAUSED"}, timeout=60)
    r = ops_stack.post(f"/tickets/{t}/decision", {"approver": "sre-oncall", "approve": True, "comment": "CAB ok"})
    assert r.status_code == 200 and r.json()["outcome"] == "approved", r.text
    done = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state"] == "Completed", done
    arts = ops_stack.api_post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [done["flow_run_id"]]}}})
    by_key = {a["key"]: a for a in arts}
    assert "approval-plan" in by_key and "run-summary" in by_key
    decisions = by_key["approval-decisions"]["data"]
    outcomes = [d["outcome"] for d in (decisions if isinstance(decisions, list) else json.loads(decisions))]
    assert outcomes == ["refused", "refused", "approved"]
    assert "approved by sre-oncall" in by_key["run-summary"]["data"]


def test_denied_plan_changes_nothing(ops_stack: Stack) -> None:
    t = tid("CHG-DENY")
    assert ops_stack.post("/tickets", selftest(t, target=t, disruptive=True)).status_code == 201
    ops_stack.wait_state(t, {"PAUSED"}, timeout=150)
    r = ops_stack.post(f"/tickets/{t}/decision", {"approver": "sre-oncall", "approve": False, "comment": "no"})
    assert r.status_code == 200 and r.json()["outcome"] == "denied"
    done = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state"] == "Failed" and "denied by sre-oncall" in done.get("message", ""), done
    subs = ops_stack.api_post("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [
        done["flow_run_id"]]}}})
    assert subs == [], "a denied plan must not run the flow"


def test_two_blocks_for_the_same_endpoint_share_one_lock(ops_stack: Stack) -> None:
    """Locks are keyed by what a block points at (host:port), not by the block's name."""
    from pydantic import SecretStr

    from blocks.ssh import SshTarget

    for name in ("ops-lock-alias-1", "ops-lock-alias-2"):
        SshTarget(host="10.250.77.199", port=2299, private_key=SecretStr("not-a-key"),
                  host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsLockAliasTestKeyOnly").save(name, overwrite=True)
    a, b = tid("CHG-ID-A"), tid("CHG-ID-B")
    # different `target` names: only the endpoint behind the two block names is the same
    assert ops_stack.post("/tickets", selftest(a, target=a, target_block="ops-lock-alias-1",
                                               hold_seconds=25)).status_code == 201
    ra = ops_stack.wait_state(a, {"RUNNING"}, timeout=120)
    key = make_key("endpoint", ["10.250.77.199:2299"])
    deadline = time.monotonic() + 60
    while httpx.get(f"{ops_stack.api}/variables/name/{holder_variable_name(key)}", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"A never recorded itself as the holder of {key}"
        time.sleep(0.5)
    assert ops_stack.post("/tickets", dict(selftest(b, target=b, target_block="ops-lock-alias-2"),
                                           on_lock_busy="fail")).status_code == 201
    rb = ops_stack.wait_state(b, {"COMPLETED", "FAILED", "CRASHED"})
    assert rb["state"] == "Failed", rb
    assert key in rb["message"] and ra["flow_run_name"] in rb["message"] and a in rb["message"], rb["message"]
    assert ops_stack.wait_state(a, {"COMPLETED", "FAILED", "CRASHED"})["state"] == "Completed"
