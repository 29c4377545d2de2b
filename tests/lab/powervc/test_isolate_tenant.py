"""isolate-tenant end to end against the lab's real OpenStack services (Keystone, Nova, Cinder, Neutron API).

The lab has two compute hosts: 9119MME_1009425 in host group hb01_mn (free for the tests' tenants) and
9119MME_0696010 in hb02_mn, already isolated for the other building block hb02.
"""

from __future__ import annotations

import pytest

from core.powervc import novaconf
from core.powervc.errors import VerificationFailed
from core.powervc.isolation import ADMIN_WARNING, without_tenant
from flows.isolate_tenant import DriftDetected, IsolateTenantParams, isolate_tenant
from seams.openstack import request
from tasks import powervc as t

pytestmark = pytest.mark.lab

ALLOWED_HOST = "9119MME_1009425"


def params(lab, project: str, mode: str, **kw) -> IsolateTenantParams:  # type: ignore[no-untyped-def]
    return IsolateTenantParams(cloud_block=lab.block, project=project, user=f"{project}_admin",
                               password_secret_block=lab.secret_block, aggregates=["hb01_mn"],
                               allowed_volume_types=["svc1 base template"], mode=mode, **kw)


def failed_checks(exc: VerificationFailed) -> str:
    return " | ".join(exc.failed)


def test_plan_changes_nothing(powervc_lab, tenant_names) -> None:
    project = tenant_names.new()
    result = isolate_tenant(params(powervc_lab, project, "plan"))
    kinds = [a["action"] for a in result["planned"]]
    assert kinds[:3] == ["create_project", "create_user", "assign_role"]
    assert "tag_aggregate" in kinds
    assert powervc_lab.admin().identity.find_project(project, ignore_missing=True) is None


def test_apply_verify_rerun_drift_and_negative(powervc_lab, tenant_names) -> None:
    project = tenant_names.new()
    result = isolate_tenant(params(powervc_lab, project, "apply"))
    rows = result["verified"]
    assert rows and all(r["result"] == "PASS" for r in rows), rows
    names = " ".join(r["check"] for r in rows)
    for expected in ("boots on an allowed host", "forbidden type", "forces host", "other tenant"):
        assert expected in names
    assert any("VolumeLimitExceeded" in r["observed"] for r in rows)
    # metadata kept: PowerVC's own keys are still on the host group
    conn = powervc_lab.admin()
    agg = {a.name: a for a in t._aggregates(conn)}["hb01_mn"]
    pid = conn.identity.find_project(project).id
    assert agg.metadata.get("hapolicy-id") == "1" and pid in agg.metadata["filter_tenant_id"]

    # a re-run plans nothing; the daily drift check passes
    assert isolate_tenant(params(powervc_lab, project, "plan"))["planned"] == []
    assert isolate_tenant(params(powervc_lab, project, "drift"))["drift"] is False

    # negative: remove the tenant's tag -> drift is reported and the behaviour check fails
    request(conn, "compute", "POST", f"/os-aggregates/{agg.id}/action", "untag",
            json={"set_metadata": {"metadata": without_tenant(agg.metadata, pid)}})
    with pytest.raises(DriftDetected, match="tag_aggregate hb01_mn"):
        isolate_tenant(params(powervc_lab, project, "drift"))
    with pytest.raises(VerificationFailed) as failed:
        isolate_tenant(params(powervc_lab, project, "verify"))
    # with hb01_mn untagged, the probe tenant lands on its host (or, if another tenant still tags it, our
    # tenant finds no valid host): either way an isolation check must fail
    text = failed_checks(failed.value)
    assert ("other tenant server 1 stays off the isolated hosts" in text and ALLOWED_HOST in text) or \
        "boots on an allowed host" in text, text

    # apply repairs it
    again = isolate_tenant(params(powervc_lab, project, "apply", probe_servers=1))
    assert [a["action"] for a in again["planned"]] == ["tag_aggregate"]
    assert all(r["result"] == "PASS" for r in again["verified"])


def test_scheduler_filter_removed_is_detected_and_restored(powervc_lab, tenant_names) -> None:
    project = tenant_names.new()
    isolate_tenant(params(powervc_lab, project, "apply", verify=False))
    cloud = powervc_lab.cloud
    ssh = cloud.ssh.connect()
    text = ssh.read_file(cloud.nova_conf_path).decode()
    assert novaconf.scheduler_filters(text).multi_tenancy
    ssh.write_file(cloud.nova_conf_path, novaconf.without_filter(text).encode(), 0o640)
    t.restart_scheduler.fn(cloud)
    with pytest.raises(DriftDetected, match="enable_scheduler_filter"):
        isolate_tenant(params(powervc_lab, project, "drift"))
    with pytest.raises(VerificationFailed) as failed:
        isolate_tenant(params(powervc_lab, project, "verify"))
    assert "other tenant" in failed_checks(failed.value)
    restored = isolate_tenant(params(powervc_lab, project, "apply", probe_servers=1))
    assert [a["action"] for a in restored["planned"]] == ["enable_scheduler_filter"]
    assert all(r["result"] == "PASS" for r in restored["verified"])
    after = ssh.read_file(cloud.nova_conf_path).decode()
    assert novaconf.scheduler_filters(after).multi_tenancy
    # only the filter line changed
    diff = [(a, b) for a, b in zip(text.splitlines(), after.splitlines(), strict=True) if a != b]
    assert diff == []


def test_admin_role_is_flagged_and_can_bypass(powervc_lab, tenant_names) -> None:
    """The security finding: the seed's 'admin' role lets the tenant force a host outside its groups.
    Two tenants share hb01_mn here (comma-separated filter_tenant_id)."""
    first, second = tenant_names.new(), tenant_names.new()
    isolate_tenant(params(powervc_lab, first, "apply", verify=False))
    planned = isolate_tenant(params(powervc_lab, second, "plan", role="admin"))
    assert ADMIN_WARNING in planned["warnings"]
    with pytest.raises(VerificationFailed) as failed:
        isolate_tenant(params(powervc_lab, second, "apply", role="admin", probe_servers=1,
                              check_other_tenant=False))
    text = failed_checks(failed.value)
    assert "forces host" in text and "accepted" in text
    conn = powervc_lab.admin()
    agg = {a.name: a for a in t._aggregates(conn)}["hb01_mn"]
    ids = agg.metadata["filter_tenant_id"].split(",")
    assert conn.identity.find_project(first).id in ids and conn.identity.find_project(second).id in ids


def test_tls_is_verified_with_the_configured_ca(powervc_lab) -> None:
    """A CA that did not sign the PowerVC certificate is refused; the lab's CA works."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from core.errors import HostUnreachable
    from seams.openstack import connect

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the PowerVC CA")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    other = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
             .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    params = powervc_lab.cloud.params()
    assert params.auth_url.startswith("https://")
    with pytest.raises(HostUnreachable, match="TLS verification failed"):
        connect(type(params)(**{**params.__dict__, "ca_cert": other}))
    assert connect(params).identity.find_project("admin") is not None


def test_passwords_never_reach_the_logs(powervc_lab, tenant_names) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    project = tenant_names.new()
    state = isolate_tenant(params(powervc_lab, project, "apply", probe_servers=1, check_other_tenant=False),
                           return_state=True)
    assert state.is_completed()

    async def logs() -> str:
        async with get_client() as client:
            rows = await client.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])))
            return "\n".join(r.message for r in rows)

    text = asyncio.run(logs())
    assert "changes planned" in text or "change(s) planned" in text
    admin_password = powervc_lab.cloud.password.get_secret_value()
    assert powervc_lab.password not in text and admin_password not in text


def test_apply_can_wait_for_approval_and_a_refusal_changes_nothing(powervc_lab, tenant_names) -> None:
    import threading
    import time

    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    project = tenant_names.new()
    out: dict[str, object] = {}
    def run() -> None:
        try:
            out["r"] = isolate_tenant(params(powervc_lab, project, "apply", approval_timeout=120))
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            out["error"] = exc

    import contextvars

    runner = threading.Thread(target=contextvars.copy_context().run, args=(run,))  # keeps the test's settings
    runner.start()

    def paused_run():  # type: ignore[no-untyped-def]
        import asyncio

        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
        from prefect.client.schemas.objects import StateType

        async def find():  # type: ignore[no-untyped-def]
            async with get_client() as client:
                runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
                return [r for r in runs if r.parameters.get("params", {}).get("project") == project]
        return asyncio.run(find())

    deadline = time.monotonic() + 90
    while not (found := paused_run()) and time.monotonic() < deadline and "error" not in out:
        time.sleep(1)
    assert found, f"the flow never paused for approval: {out}"
    resume_flow_run(found[0].id, run_input={"approve": False})
    runner.join(timeout=120)
    assert out["r"]["approved"] is False
    assert powervc_lab.admin().identity.find_project(project, ignore_missing=True) is None
