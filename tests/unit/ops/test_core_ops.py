"""Pure operations logic: signatures, ticket validation, lock keys, approval rules, redaction, summaries."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from core.ops import signing
from core.ops.approval import ApprovalDecision, ApprovalRule, judge
from core.ops.errors import TicketAuthError, TicketInvalid
from core.ops.locks import LockTarget, derive_lock_keys, holder_variable_name, make_key
from core.ops.redact import MASK, Redactor
from core.ops.summary import from_result, render_markdown
from core.ops.tickets import parse_ticket, validate_parameters

KEY = b"k3y-for-tests"
BODY = b'{"ticket_id":"CHG1"}'


# ------------------------------------------------------------------ signing
def test_signature_roundtrip_and_rotation() -> None:
    sig = signing.sign(KEY, "1000", BODY)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    signing.verify_signature([b"old", KEY], "1000", BODY, sig, now=1010)
    import base64
    import hashlib
    import hmac
    b64 = base64.b64encode(hmac.new(KEY, b"1000." + BODY, hashlib.sha256).digest()).decode()
    signing.verify_signature([KEY], "1000", BODY, "sha256=" + b64, now=1000)


@pytest.mark.parametrize(("ts", "body", "sig", "now", "why"), [
    ("1000", BODY + b" ", None, 1000, "missing"),
    ("1000", BODY + b" ", "sig", 1000, "sha256="),
    ("1000", BODY + b" ", signing.sign(KEY, "1000", BODY), 1000, "does not match"),
    ("1000", BODY, signing.sign(KEY, "1000", BODY), 1000 + 301, "stale"),
    ("abc", BODY, signing.sign(KEY, "abc", BODY), 1000, "integer"),
    (None, BODY, signing.sign(KEY, "1000", BODY), 1000, "missing"),
])
def test_bad_signatures_are_refused(ts: str | None, body: bytes, sig: str | None, now: int, why: str) -> None:
    with pytest.raises(TicketAuthError, match=why):
        signing.verify_signature([KEY], ts, body, sig, now=now)


def test_bearer() -> None:
    signing.verify_bearer(["t1", "t2"], "Bearer t2")
    for bad in (None, "t2", "Bearer t3", "Basic dDI="):
        with pytest.raises(TicketAuthError):
            signing.verify_bearer(["t1", "t2"], bad)


# ------------------------------------------------------------------ ticket validation
class Inner(BaseModel):
    vios: str = Field(description="v")
    priority: int = Field(ge=1, le=100, description="p")


class Params(BaseModel):
    hmc_block: str = Field(description="h")
    vlan: int = Field(ge=0, le=4094, description="vlan")
    mode: Literal["a", "b"] = Field(default="a", description="m")
    devices: list[Inner] = Field(default_factory=list, description="d")
    extra: Inner | None = Field(default=None, description="e")


def test_every_error_is_listed_unknown_fields_at_any_depth() -> None:
    with pytest.raises(TicketInvalid) as ei:
        validate_parameters(Params, {"vlan": 5000, "mode": "z", "colour": "red",
                                     "devices": [{"vios": "v1", "priority": 1, "speed": 10}],
                                     "extra": {"vios": "v2", "priority": 0, "x": 1}})
    locs = {(e["loc"], e["type"]) for e in ei.value.errors}
    assert ("parameters.colour", "extra_forbidden") in locs
    assert ("parameters.devices.0.speed", "extra_forbidden") in locs
    assert ("parameters.extra.x", "extra_forbidden") in locs
    assert ("parameters.hmc_block", "missing") in locs
    assert ("parameters.vlan", "less_than_equal") in locs
    assert ("parameters.mode", "literal_error") in locs
    assert ("parameters.extra.priority", "greater_than_equal") in locs
    assert len(ei.value.errors) == 7


def test_valid_parameters() -> None:
    p = validate_parameters(Params, {"hmc_block": "h1", "vlan": 10, "devices": [{"vios": "v", "priority": 2}]})
    assert isinstance(p, Params) and p.devices[0].priority == 2


def test_ticket_envelope() -> None:
    t = parse_ticket({"ticket_id": "CHG0031337", "procedure": "x", "requester": "alice", "parameters": {}})
    assert t.ticket_id == "CHG0031337"
    with pytest.raises(TicketInvalid) as ei:
        parse_ticket({"ticket_id": "bad id/..", "procedure": "x", "callback_url": "ftp://x", "foo": 1})
    locs = {e["loc"] for e in ei.value.errors}
    assert {"ticket_id", "requester", "callback_url", "foo"} <= locs


# ------------------------------------------------------------------ locks
def test_lock_keys() -> None:
    targets = [LockTarget("hmc", ("hmc_block", "managed_system")), LockTarget("host", ("targets",)),
               LockTarget("mirror", ("destination.name",))]
    keys = derive_lock_keys(targets, {"hmc_block": "lab-hmc", "managed_system": "Server 9119/MME",
                                      "targets": ["h2", "h1"], "destination": {"name": "ubuntu"}})
    assert keys == ["lock:hmc:lab-hmc:Server_9119_MME", "lock:host:h1", "lock:host:h2", "lock:mirror:ubuntu"]
    assert derive_lock_keys(targets, {"hmc_block": "x"}) == []          # managed system missing: no hmc key
    long = make_key("hmc", ["a" * 300])
    assert len(long) <= 120 and long != make_key("hmc", ["a" * 299])
    assert holder_variable_name("lock:hmc:x").startswith("powerops_lock_")
    assert holder_variable_name("lock:hmc:x") != holder_variable_name("lock:hmc:y")


# ------------------------------------------------------------------ approval
def test_approval_rules() -> None:
    rule = ApprovalRule(when={"mode": ("apply",)}, reason="tenant change")
    assert rule.required({"mode": "apply"}) == "tenant change (mode=apply)"
    assert rule.required({"mode": "plan"}) is None
    assert ApprovalRule(always=True).required({}) is not None


@pytest.mark.parametrize(("approver", "approve", "outcome"), [
    ("ops-lead", True, "approved"), ("OPS-LEAD", False, "denied"), ("mallory", True, "refused"),
    ("alice", True, "refused"),
])
def test_judge(approver: str, approve: bool, outcome: str) -> None:
    v = judge(ApprovalDecision(approver=approver, approve=approve), "alice", ["ops-lead", "alice"])
    assert v.outcome == outcome


def test_judge_without_list_refuses() -> None:
    assert judge(ApprovalDecision(approver="x", approve=True), None, []).outcome == "refused"


# ------------------------------------------------------------------ redaction
PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       "QyNTUxOQAAACDx0aVfE8aQhN2dXlNzYk1m0z1w2Q3d4e5f6g7h8i9j0kAAAAJgAAAAAAAA\n"
       "-----END OPENSSH PRIVATE KEY-----\n")


def test_redaction_forms() -> None:
    r = Redactor()
    assert r.redact_text("nothing known") == "nothing known"
    r.add("s3cr3t-Pa55")
    r.add(PEM)
    r.add("abc")                                      # too short: not registered
    text = f"pw=s3cr3t-Pa55 json={json.dumps(PEM)} line=QyNTUxOQAAACDx0aVfE8aQhN2dXlNzYk1m0z1w2Q3d4e5f6g7h8i9j0kAAAAJgAAAAAAAA"
    out = r.redact_text(text)
    assert "s3cr3t-Pa55" not in out and "b3BlbnNzaC1rZXkt" not in out and "QyNTUxOQ" not in out
    assert out.count(MASK) >= 3 and "abc" in r.redact_text("abc")
    obj = r.redact({"a": ["x s3cr3t-Pa55", ("s3cr3t-Pa55",)], "s3cr3t-Pa55": 1, "n": 5})
    assert obj == {"a": [f"x {MASK}", (MASK,)], MASK: 1, "n": 5}
    assert r.contains(PEM) and not r.contains("hello")


# ------------------------------------------------------------------ summary
def test_summary_from_result_and_markdown() -> None:
    result = {"address": "10.0.0.1:5000", "planned": [["write config", "changed"], ["recreate", "config"]],
              "applied": ["write config"], "hosts": [{"host": "d1", "pull": "ok"}], "seconds": 12.5,
              "dry_run": False}
    s = from_result("stand-up-registry", "Completed", result)
    assert s.planned == ["write config (changed)", "recreate (config)"]
    assert s.changed == ["write config"] and s.verified == ["hosts: host=d1, pull=ok"]
    assert s.numbers["seconds"] == 12.5 and s.numbers["planned (count)"] == 2 and "dry_run" not in s.numbers
    s.ticket_id, s.requester = "CHG1", "alice"
    s.related = [("ticket", "CHG1", ""), ("sub-run", "x (Completed)", "http://ui/runs/flow-run/1")]
    md = render_markdown(s)
    assert "## stand-up-registry: Completed" in md and "### Planned (2)" in md and "### Changed (1)" in md
    assert "| ticket | CHG1 |" in md and "[x (Completed)](http://ui/runs/flow-run/1)" in md
