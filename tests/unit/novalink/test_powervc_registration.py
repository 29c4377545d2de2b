"""PowerVC registration of a NovaLink host: request body, facts, plan, and the tasks against a fake cloud that
answers only the documented calls (GET /os-hypervisors/detail, POST /os-hosts)."""

from __future__ import annotations

import json

import pytest
from prefect.logging import disable_run_logger

from core.errors import InvalidInput
from core.novalink import powervc as reg

# recorded from the lab's Nova (2.53): the two PowerVC-named hosts of issue 9's cloud
HYPERVISORS = json.loads("""{"hypervisors": [
 {"id": "a70b2815-cbd3-4e7d-8d66-a57990e48dbb", "hypervisor_hostname": "9119MME_1009425", "host_ip": "10.250.77.90",
  "state": "up", "status": "enabled", "hypervisor_type": "fake",
  "service": {"id": "cfeb1b0a-32ad-422a-b7eb-b333895d7a68", "host": "9119MME_1009425", "disabled_reason": null}},
 {"id": "1ee4dfab-9d92-45d3-ad80-fe3c6ba68f5a", "hypervisor_hostname": "9119MME_0696010", "host_ip": "10.250.77.90",
  "state": "up", "status": "enabled", "hypervisor_type": "fake",
  "service": {"id": "6d490650-c08d-4d4e-b3af-ddb4530de086", "host": "9119MME_0696010", "disabled_reason": null}}
]}""")
PASSWORD = "Nl-Reg-Pw-93f1c2"  # noqa: S105 (a test value the leak checks search for)


def test_parse_and_find_registered():
    hyps = reg.parse_hypervisors(HYPERVISORS)
    assert [(h.name, h.serial, h.host_ip, h.state) for h in hyps] == [
        ("9119MME_1009425", "1009425", "10.250.77.90", "up"), ("9119MME_0696010", "0696010", "10.250.77.90", "up")]
    assert reg.find_registered(hyps, "10.250.77.81", "0696010").name == "9119MME_0696010"  # same system
    assert reg.find_registered(hyps, "10.250.77.90", "").name == "9119MME_1009425"  # same address
    assert reg.find_registered(hyps, "10.250.77.81", "1234567") is None
    with pytest.raises(InvalidInput):
        reg.parse_hypervisors({"error": "x"})


def test_registration_body_is_the_documented_one():
    body = reg.registration_body("10.1.1.5", "padmin", "nova0696010", password=PASSWORD, host_group="hb01_mn")
    assert body == {"host": {"registration": {
        "access_ip": "10.1.1.5", "user_id": "padmin", "host_type": "powervm", "host_display_name": "nova0696010",
        "asynchronous": True, "host_standby": False, "auto_add_host_key": True, "force_switch": False,
        "force_unmanage": False, "host_group": "hb01_mn", "password": PASSWORD}}}
    keyed = reg.registration_body("10.1.1.5", "root", "n1", private_key="-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "password" not in keyed["host"]["registration"]
    assert keyed["host"]["registration"]["private_key_data"].startswith("-----BEGIN")
    assert PASSWORD not in json.dumps(reg.redacted(body))
    assert "BEGIN" not in json.dumps(reg.redacted(keyed))
    for bad in (dict(), dict(password="a", private_key="b")):
        with pytest.raises(InvalidInput):
            reg.registration_body("10.1.1.5", "padmin", "n1", **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        reg.registration_body("10.1.1.5", "pad min", "n1", password="x")


def test_parse_registration_answer_keeps_no_credential():
    answer = {"host": {"host_name": "9119MME_0696010", "registration": {
        "access_ip": "10.1.1.5", "user_id": "padmin", "host_display_name": "nova0696010", "password": PASSWORD}}}
    out = reg.parse_registration_answer(answer)
    assert out == {"host_name": "9119MME_0696010", "access_ip": "10.1.1.5", "user_id": "padmin",
                   "host_display_name": "nova0696010"}
    with pytest.raises(InvalidInput):
        reg.parse_registration_answer([])


class FakeCloud:
    """Answers only the documented calls; anything else is refused."""

    def __init__(self, registered: bool = True) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.registered = registered

    def request(self, conn, service, method, path, what, json=None, microversion=None, ok=(200,)):  # noqa: ARG002
        self.calls.append((method, path, json))
        assert service == "compute"
        if (method, path) == ("GET", "/os-hypervisors/detail"):
            assert microversion == reg.HYPERVISORS_MICROVERSION
            return HYPERVISORS
        if (method, path) == ("POST", "/os-hosts"):
            r = json["host"]["registration"]
            return {"host": {"host_name": "9119MME_1234567", "registration": {
                "access_ip": r["access_ip"], "user_id": r["user_id"], "host_display_name": r["host_display_name"]}}}
        raise AssertionError(f"undeclared call {method} {path}")


@pytest.fixture
def cloud(monkeypatch):
    import seams.openstack
    import tasks.powervc

    fake = FakeCloud()
    monkeypatch.setattr(seams.openstack, "request", fake.request)
    monkeypatch.setattr(tasks.powervc, "admin_conn", lambda cloud: object())
    return fake


def test_tasks_read_and_register(cloud, caplog):
    from tasks.novalink import read_powervc_hypervisors, register_novalink_host

    with disable_run_logger():
        hyps = read_powervc_hypervisors.fn(None)
        assert [h.name for h in hyps] == ["9119MME_1009425", "9119MME_0696010"]
        body = reg.registration_body("10.1.1.7", "padmin", "nova1234567", password=PASSWORD)
        out = register_novalink_host.fn(None, "nova1234567", body)
    assert out["host_name"] == "9119MME_1234567"
    assert cloud.calls[-1] == ("POST", "/os-hosts", body)
    assert PASSWORD not in caplog.text and PASSWORD not in json.dumps(out)


def test_register_on_a_cloud_without_the_api(monkeypatch):
    import seams.openstack
    import tasks.powervc
    from core.powervc.errors import ApiNotFound
    from tasks.novalink import register_novalink_host

    def not_found(*a, **k):
        raise ApiNotFound("10.250.77.90", "register NovaLink host n1", 404, "<html>404 Not Found</html>")

    monkeypatch.setattr(seams.openstack, "request", not_found)
    monkeypatch.setattr(tasks.powervc, "admin_conn", lambda cloud: object())
    with disable_run_logger(), pytest.raises(ApiNotFound, match="no PowerVC host-registration API"):
        register_novalink_host.fn(None, "n1", reg.registration_body("10.1.1.7", "padmin", "n1", password="x"))


def test_wait_for_hypervisor_times_out_with_last_state(cloud):
    from core.novalink.errors import VerificationFailed
    from tasks.novalink import wait_powervc_hypervisor

    with disable_run_logger():
        assert wait_powervc_hypervisor.fn(None, "10.250.77.81", "0696010", 1.0, poll_s=0.01).name == "9119MME_0696010"
        with pytest.raises(VerificationFailed, match="1234567"):
            wait_powervc_hypervisor.fn(None, "10.250.77.81", "1234567", 0.05, poll_s=0.01)
