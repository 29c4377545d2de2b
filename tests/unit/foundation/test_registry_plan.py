import datetime as dt
from pathlib import Path

import pytest

from core import certs, htpasswd
from core import registry as reg

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
GOLDEN = Path(__file__).parent / "golden"
SPEC = reg.RegistrySpec(address="10.250.77.11:5000", names=("10.250.77.11", "registry.powerops.test"), user="powerops")


def converged(now=NOW, days=397, password="pw"):
    ca = certs.make_ca(now=now)
    srv = certs.issue_server_cert(ca, SPEC.cert_names(), days=days, now=now)
    ht = htpasswd.make_entry("powerops", password, rounds=4)
    material = reg.Material(ca=ca, server=srv, htpasswd=ht, config=SPEC.render_config())
    facts = reg.RegistryFacts(ca_cert=ca.cert_pem, ca_key=ca.key_pem, server_cert=srv.cert_pem,
                              server_key=srv.key_pem, htpasswd=ht, image_id="sha256:img",
                              container_exists=True, container_running=True,
                              container_release=material.release("sha256:img"))
    return facts


def test_fresh_host_plans_everything():
    plan = reg.plan_registry(SPEC, reg.RegistryFacts(), "pw", "sha256:img", now=NOW)
    assert [a for a, _ in plan.actions] == ["create CA", "issue server certificate", "write htpasswd",
                                            "create container"]
    assert plan.write_ca and plan.write_server and plan.recreate_container
    assert certs.covers(certs.inspect_cert(plan.material.server.cert_pem), SPEC.cert_names())


def test_converged_registry_plans_nothing():
    plan = reg.plan_registry(SPEC, converged(), "pw", "sha256:img", now=NOW)
    assert plan.actions == [] and not plan.changes
    assert {k for k, _ in plan.keep} == {"CA", "server certificate", "htpasswd", "container"}


def test_changed_password_rewrites_htpasswd_and_recreates():
    plan = reg.plan_registry(SPEC, converged(), "new-password", "sha256:img", now=NOW)
    assert [a for a, _ in plan.actions] == ["write htpasswd", "recreate container"]
    assert htpasswd.verify(plan.material.htpasswd, "powerops", "new-password")


def test_cert_within_30_days_is_rotated_but_ca_kept():
    facts = converged(now=NOW - dt.timedelta(days=380), days=400)  # 20 days left at NOW
    plan = reg.plan_registry(SPEC, facts, "pw", "sha256:img", now=NOW)
    actions = dict(plan.actions)
    assert "issue server certificate" in actions and "expires in 20 days" in actions["issue server certificate"]
    assert "create CA" not in actions
    assert plan.material.ca.cert_pem == facts.ca_cert
    assert "recreate container" in actions


def test_new_name_reissues_certificate():
    spec2 = reg.RegistrySpec(address=SPEC.address, names=(*SPEC.names, "extra.powerops.test"), user="powerops")
    plan = reg.plan_registry(spec2, converged(), "pw", "sha256:img", now=NOW)
    assert "does not cover" in dict(plan.actions)["issue server certificate"]


def test_new_image_recreates_container_only():
    plan = reg.plan_registry(SPEC, converged(), "pw", "sha256:other", now=NOW)
    assert [a for a, _ in plan.actions] == ["recreate container"]


def test_stopped_container_is_started():
    facts = converged()
    facts = reg.RegistryFacts(**{**facts.__dict__, "container_running": False})
    plan = reg.plan_registry(SPEC, facts, "pw", "sha256:img", now=NOW)
    assert [a for a, _ in plan.actions] == ["start container"]


def test_config_golden():
    assert SPEC.render_config() == (GOLDEN / "registry-config.yml").read_text()


def test_certs_d_path():
    assert reg.certs_d_path("/etc/docker/certs.d/", "reg.example:5000") == "/etc/docker/certs.d/reg.example:5000/ca.crt"


def test_spec_validation():
    with pytest.raises(Exception, match="port"):
        reg.RegistrySpec(address="host", names=(), user="u")
