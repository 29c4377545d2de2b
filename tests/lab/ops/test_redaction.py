"""Secret redaction, searched where a person or an attacker would look: the server's logs and artifacts
through the API, the flow/task run state messages, and what the server's database stored (``pg_dump`` of its
PostgreSQL database, or its SQLite file and WAL)."""

from __future__ import annotations

import os
import secrets
import shutil
import time
import uuid
from typing import Any

import pytest

from core.ops.redact import MASK, variants
from lab.prefect_server import stored_data

from .conftest import Stack

pytestmark = pytest.mark.lab


def _all(stack: Stack, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = stack.api_post(path, dict(body, limit=200, offset=len(out)))
        out += page
        if len(page) < 200:
            return out


def _needles(values: list[str]) -> set[str]:
    return {v for value in values for v in variants(value)}


def search_server(stack: Stack, values: list[str]) -> dict[str, list[str]]:
    """Every place on the server where one of ``values`` (or a serialised form of it) is stored in clear."""
    needles = _needles(values)
    hits: dict[str, list[str]] = {}

    def check(where: str, text: Any) -> None:
        t = str(text)
        for n in needles:
            if n in t:
                hits.setdefault(where, []).append(n[:12] + "...")

    for log in _all(stack, "/logs/filter", {}):
        check(f"log {log['flow_run_id']}", log["message"])
    for art in _all(stack, "/artifacts/filter", {}):
        check(f"artifact {art['key']}", art.get("data"))
        check(f"artifact {art['key']} description", art.get("description"))
    for fr in _all(stack, "/flow_runs/filter", {}):
        check(f"flow run {fr['name']} state", (fr.get("state") or {}).get("message"))
        check(f"flow run {fr['name']} parameters", fr.get("parameters"))
    for tr in _all(stack, "/task_runs/filter", {}):
        check(f"task run {tr['name']} state", (tr.get("state") or {}).get("message"))
    home = stack.home or os.environ.get("POWEROPS_TEST_PREFECT_HOME", "")
    stored = stored_data(home)
    assert stored and all(len(v) > 10_000 for v in stored.values()), f"no database content under {home}"
    for name, data in stored.items():
        for n in needles:
            if n.encode() in data:
                hits.setdefault(f"database {name}", []).append(n[:12] + "...")
    return hits


def test_selftest_leaks_are_redacted_everywhere(ops_stack: Stack) -> None:
    from prefect.blocks.system import Secret

    value = "Sx-" + secrets.token_urlsafe(18)
    block = f"leak-{uuid.uuid4().hex[:8]}"
    Secret(value=value).save(block, overwrite=True)
    t = f"CHG-LEAK-{uuid.uuid4().hex[:6]}"
    r = ops_stack.post("/tickets", {"ticket_id": t, "procedure": "selftest", "requester": "alice",
                                    "parameters": {"target": t, "secret_block": block}})
    assert r.status_code == 201, r.text
    done = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state"] == "Completed", done
    time.sleep(3)   # logs are shipped in batches
    logs = _all(ops_stack, "/logs/filter", {})
    masked = [x for x in logs if MASK in x["message"]]
    assert len(masked) >= 3, "the self-test's leak attempts must show up, masked"
    arts = _all(ops_stack, "/artifacts/filter", {"artifacts": {"key": {"any_": ["selftest-leak"]}}})
    assert arts and MASK in str(arts[0]["data"]) and MASK in str(arts[0]["description"])
    assert search_server(ops_stack, [value]) == {}


@pytest.fixture(scope="module")
def docker_lab(ops_stack: Stack) -> dict[str, Any]:
    """The lab's Docker hosts (idempotent up) with their blocks on this session's server."""
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        pytest.fail("the foundation flows need root and the lab packages (scripts/bootstrap.sh)")
    from prefect.blocks.system import Secret

    from lab import docker_hosts
    from lab.cli import lab_blocks
    from lab.context import LabContext

    lab = LabContext()
    docker_hosts.up(lab)
    lab_blocks(lab, ["lab.docker_hosts"])
    # the lab registry is shared with the demo and the foundation tests: use the demo's password so this run
    # converges to the same registry (no change) instead of re-keying it
    pw_file = lab.state_dir / "registry-password"
    password = pw_file.read_text().strip() if pw_file.exists() else "Reg-" + secrets.token_urlsafe(18)
    Secret(value=password).save("ops-test-registry-password", overwrite=True)
    key = lab.client_key_path.read_text()
    tls_key = (lab.state_dir / "docker-tls" / "client-key.pem").read_text()
    return {"password": password, "ssh_key": key, "tls_key": tls_key}


def test_foundation_flows_through_deployments_leak_nothing(ops_stack: Stack, docker_lab: dict[str, Any]) -> None:
    """The real foundation flows, run by the worker from tickets: they load the registry password from a
    Secret block and SSH private keys from SshTarget blocks. None of it may be stored in clear."""
    base = "powerops/debian:bookworm"
    tickets = [
        ("build-base-image", {"build_host": "lab-build", "target_host": "lab-dock1", "tag": base}),
        ("stand-up-registry", {"registry_host": "lab-dock1", "password_secret": "ops-test-registry-password",
                               "base_image": base, "trust_hosts": ["lab-dock2", "lab-dock3"]}),
    ]
    for proc, params in tickets:
        t = f"CHG-{proc}-{uuid.uuid4().hex[:6]}"
        r = ops_stack.post("/tickets", {"ticket_id": t, "procedure": proc, "requester": "alice",
                                        "parameters": params})
        assert r.status_code == 201, r.text
        done = ops_stack.wait_state(t, {"COMPLETED", "FAILED", "CRASHED"}, timeout=1500)
        assert done["state"] == "Completed", done
    time.sleep(3)
    hits = search_server(ops_stack, [docker_lab["password"], docker_lab["ssh_key"], docker_lab["tls_key"]])
    assert hits == {}, hits
