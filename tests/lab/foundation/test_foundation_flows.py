"""The real flows against the real lab: base image, app image, registry (fresh, re-run, change, rotation,
failed swap, port taken), bad input, and no secret in logs or artifacts."""

from __future__ import annotations

import datetime as dt
import subprocess

import httpx
import pytest
from pydantic import SecretStr

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget
from core import certs
from core import registry as reg
from core.errors import (
    HostKeyMismatch,
    HostUnreachable,
    InvalidInput,
    PowerOpsError,
    RegistryError,
)
from flows.build_app_image import AppImageParams, build_app_image_flow
from flows.build_base_image import BaseImageParams, build_base_image
from flows.stand_up_registry import RegistryParams, stand_up_registry
from tests.lab.foundation.conftest import REGISTRY_PASSWORD

pytestmark = pytest.mark.lab

BASE = "powerops/debian:bookworm-test"
REG_HOST = "lab-dock3"
ROOT = "/etc/powerops/registry"


def _docker(node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", f"unix:///run/powerops-lab/{node}/docker.sock", *args],
                          capture_output=True, text=True)


def _reset_registry(node: str) -> None:
    _docker(node, "rm", "-f", reg.CONTAINER, reg.PREVIOUS)
    host = DockerHost.load(f"lab-{node}")
    host.ssh.connect().run(["rm", "-rf", ROOT, "/var/lib/powerops/registry"])


def _registry_params(**kw) -> RegistryParams:
    base = {"registry_host": REG_HOST, "password_secret": "test-registry-password", "base_image": BASE,
            "trust_hosts": ["lab-dock1", "lab-dock2"], "save_block_as": "test-registry"}
    base.update(kw)
    return RegistryParams(**base)


@pytest.fixture(scope="module")
def base_images(docker_lab):
    """The test base image on every lab host (a real debootstrap on the build host the first time)."""
    results = {}
    for node in ("dock1", "dock2", "dock3"):
        results[node] = build_base_image(BaseImageParams(build_host="lab-build", target_host=f"lab-{node}", tag=BASE))
    return results


def test_base_image_built_smoke_tested_and_cached(base_images):
    first = base_images["dock3"]
    assert first["smoke_test"].startswith("success")
    assert first["action"] in ("built", "unchanged (cached)", "rebuilt (inputs changed)")
    again = build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock3", tag=BASE))
    assert again["action"] == "unchanged (cached)"
    assert again["image_id"] == first["image_id"]
    assert again["key"] == first["key"]
    labels = _docker("dock3", "image", "inspect", "-f", "{{json .Config.Labels}}", BASE).stdout
    assert first["key"] in labels


def test_registry_fresh_then_rerun_changes_nothing(base_images):
    _reset_registry("dock3")
    first = stand_up_registry(_registry_params())
    applied = first["applied"]
    assert applied == ["create CA", "issue server certificate", "write htpasswd", "create container"]
    assert "powerops/debian" in first["catalog"]
    rows = {r["host"]: r for r in first["hosts"]}
    assert set(rows) == {"dock3", "dock1", "dock2"}
    assert all(r["login"] == "Login Succeeded" for r in rows.values())
    assert rows["dock1"]["pull"].startswith("pulled") and rows["dock2"]["pull"].startswith("pulled")
    cid = _docker("dock3", "inspect", "-f", "{{.Id}}", reg.CONTAINER).stdout.strip()
    # the CA is where each engine looks for it
    ca = DockerHost.load("lab-dock1").ssh.connect().read_file(f"/etc/docker/certs.d/{first['address']}/ca.crt")
    assert ca and b"BEGIN CERTIFICATE" in ca

    again = stand_up_registry(_registry_params())
    assert again["applied"] == [] and again["files_changed"] == []
    assert _docker("dock3", "inspect", "-f", "{{.Id}}", reg.CONTAINER).stdout.strip() == cid
    assert "hosts" in again and all(r["trust"] == "already trusted" for r in again["hosts"])


def test_catalog_verifies_tls_and_refuses_wrong_password(base_images):
    block = RegistryTarget.load("test-registry")
    # TLS is verified with the CA: without it the handshake fails
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://{block.address}/v2/_catalog", timeout=5)
    from tasks.registry import registry_catalog

    bad = RegistryTarget(address=block.address, ca_cert=block.ca_cert, username=block.username,
                         password=SecretStr("wrong-password"))
    with pytest.raises(RegistryError, match="login refused for user 'powerops'"):
        registry_catalog.fn(bad)


def test_app_image_whoami_built_and_pushed(base_images):
    out = build_app_image_flow(AppImageParams(app="whoami", base_image=BASE, build_host="lab-build",
                                              target_host="lab-dock3", tag="powerops/whoami:test",
                                              push_to="test-registry"))
    assert out["pushed"].startswith(RegistryTarget.load("test-registry").address + "/powerops/whoami:test")
    run = _docker("dock3", "run", "--rm", "powerops/whoami:test", "sh", "/srv/www/cgi-bin/index.cgi")
    assert "hostname: " in run.stdout and "uname: Linux" in run.stdout
    again = build_app_image_flow(AppImageParams(app="whoami", base_image=BASE, build_host="lab-build",
                                                target_host="lab-dock3", tag="powerops/whoami:test"))
    assert again["action"] == "unchanged (cached)"


def test_changed_password_recreates_container(base_images):
    from prefect.blocks.system import Secret

    before = _docker("dock3", "inspect", "-f", "{{.Id}}", reg.CONTAINER).stdout.strip()
    Secret(value=REGISTRY_PASSWORD + "-2").save("test-registry-password-2", overwrite=True)
    out = stand_up_registry(_registry_params(password_secret="test-registry-password-2"))
    assert out["applied"] == ["write htpasswd", "recreate container"]
    assert _docker("dock3", "inspect", "-f", "{{.Id}}", reg.CONTAINER).stdout.strip() != before
    assert all(r["login"] == "Login Succeeded" for r in out["hosts"])
    # and back to the first password (also a change)
    assert stand_up_registry(_registry_params())["applied"] == ["write htpasswd", "recreate container"]


def test_certificate_close_to_expiry_is_rotated(base_images):
    conn = DockerHost.load(REG_HOST).ssh.connect()
    ca = certs.KeyPair(conn.read_file(f"{ROOT}/ca/ca.crt").decode(), conn.read_file(f"{ROOT}/ca/ca.key").decode())
    address = RegistryTarget.load("test-registry").address
    host = address.split(":")[0]
    short = certs.issue_server_cert(ca, [host], days=10, now=dt.datetime.now(dt.UTC))
    conn.write_file(f"{ROOT}/certs/server.crt", short.cert_pem.encode())
    conn.write_file(f"{ROOT}/certs/server.key", short.key_pem.encode(), 0o600)
    out = stand_up_registry(_registry_params())
    assert out["applied"] == ["issue server certificate", "recreate container"]
    info = certs.inspect_cert(conn.read_file(f"{ROOT}/certs/server.crt").decode())
    assert info.days_left(dt.datetime.now(dt.UTC)) > 300


def test_failed_swap_leaves_previous_registry_running(base_images):
    before = _docker("dock3", "inspect", "-f", "{{.Id}}", reg.CONTAINER).stdout.strip()
    # a "registry binary" that exits at once: the new container never becomes healthy
    with pytest.raises(RegistryError, match="previous registry was restored"):
        stand_up_registry(_registry_params(binary_paths=["/bin/true"]))
    assert _docker("dock3", "inspect", "-f", "{{.Id}} {{.State.Running}}", reg.CONTAINER).stdout.split() == [before, "true"]
    out = stand_up_registry(_registry_params())
    assert "Login Succeeded" in {r["login"] for r in out["hosts"]}


def test_port_already_taken_is_named(base_images):
    # something else listens on dock2:5055; a registry asked for that port must say so and leave nothing behind
    listener = subprocess.Popen(["ip", "netns", "exec", "pwl-dock2", "python3", "-m", "http.server", "5055",
                                 "--bind", "10.250.77.12"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time

        time.sleep(1.0)
        _reset_registry("dock2")
        base_dock2 = build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock2", tag=BASE))
        assert base_dock2["smoke_test"].startswith("success")
        with pytest.raises(RegistryError, match="port 5055 on dock2 is already taken"):
            stand_up_registry(_registry_params(registry_host="lab-dock2", port=5055, trust_hosts=[],
                                               save_block_as=None))
        assert _docker("dock2", "ps", "-aq", "--filter", f"name={reg.CONTAINER}").stdout.strip() == ""
    finally:
        listener.kill()
        _reset_registry("dock2")


def test_bad_inputs_name_the_host_and_cause(lab_ctx, docker_lab):
    good = SshTarget.load("lab-dock1-ssh")
    nobody = SshTarget(host="10.250.77.19", private_key=good.private_key, host_key=good.host_key, connect_timeout=2)
    with pytest.raises(HostUnreachable, match="10.250.77.19"):
        nobody.connect()
    wrong_key = SshTarget(host="10.250.77.12", private_key=good.private_key, host_key=good.host_key)
    with pytest.raises(HostKeyMismatch, match="10.250.77.12: host key mismatch"):
        wrong_key.connect()
    with pytest.raises(PowerOpsError, match="no expected host key"):
        SshTarget(host="10.250.77.11", private_key=good.private_key, host_key="").connect()
    with pytest.raises(InvalidInput, match="malformed image repository"):
        build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock1", tag="Bad Tag:1"))
    with pytest.raises(ValueError):
        SshTarget(host="bad host;rm", private_key=good.private_key, host_key=good.host_key)


def test_no_secret_in_logs_artifacts_or_parameters(base_images, prefect_server):
    """Runs above used a known registry password and the lab's private key: search everything stored."""
    from prefect.client.orchestration import get_client

    key_body = "".join(SshTarget.load("lab-dock1-ssh").private_key.get_secret_value().splitlines()[1:3])
    needles = [REGISTRY_PASSWORD, key_body]
    with get_client(sync_client=True) as client:
        logs = client.read_logs(limit=200)
        offset = 200
        while True:
            more = client.read_logs(limit=200, offset=offset)
            if not more:
                break
            logs += more
            offset += 200
        artifacts = client.read_artifacts(limit=200)
        runs = client.read_flow_runs(limit=200)
    assert len(logs) > 5 and len(artifacts) > 1 and len(runs) > 1
    haystack = "\n".join([*(log.message for log in logs), *(str(a.data) for a in artifacts),
                          *(str(r.parameters) for r in runs)])
    for n in needles:
        assert n not in haystack
    # and in what the server's database stored (pg_dump, or the SQLite files)
    import os

    from lab.prefect_server import stored_data

    raw = b"".join(stored_data(os.environ["POWEROPS_TEST_PREFECT_HOME"]).values())
    assert len(raw) > 100_000
    assert REGISTRY_PASSWORD.encode() not in raw


def test_docker_api_over_tls_and_over_ssh_see_the_same_engine(docker_lab):
    over_ssh = DockerHost.load("lab-dock2")
    over_tls = DockerHost.load("lab-dock2-tls")
    assert over_tls.api == "tls" and over_tls.tls_url.startswith("tcp://")
    with over_ssh.client() as a, over_tls.client() as b:
        assert a.info()["ID"] == b.info()["ID"]
    # a client certificate from another CA is refused by the daemon's --tlsverify
    other_ca = certs.make_ca("intruder CA")
    intruder = certs.issue_client_cert(other_ca, "intruder")
    bad = over_tls.model_copy(update={"tls_cert": intruder.cert_pem, "tls_key": SecretStr(intruder.key_pem)})
    with pytest.raises(Exception), bad.client() as c:  # noqa: B017 - any TLS refusal
        c.version()


def test_ssh_write_file_makes_missing_directories_and_is_idempotent(docker_lab):
    conn = DockerHost.load("lab-dock2").ssh.connect()
    root = "/tmp/powerops-write-file-test"
    conn.run(["rm", "-rf", root])
    try:
        assert conn.write_file(f"{root}/a/b/c.txt", b"one\n", 0o600) is True
        assert conn.read_file(f"{root}/a/b/c.txt") == b"one\n"
        modes = conn.run(["stat", "-c", "%a %F", f"{root}/a", f"{root}/a/b", f"{root}/a/b/c.txt"]).stdout.split("\n")
        assert modes[:3] == ["755 directory", "755 directory", "600 regular file"]
        assert conn.write_file(f"{root}/a/b/c.txt", b"one\n", 0o600) is False  # same content: nothing written
        assert conn.write_file(f"{root}/a/d.txt", b"two\n") is True  # parent exists now
        conn.run(["touch", f"{root}/file"])
        with pytest.raises(NotADirectoryError, match=f"{root}/file"):
            conn.write_file(f"{root}/file/x.txt", b"three\n")
        assert conn.run(["ls", "-A", f"{root}/a/b"]).stdout.split() == ["c.txt"]  # no temporary file left
    finally:
        conn.run(["rm", "-rf", root])


@pytest.mark.slow
def test_ppc64el_base_image_through_qemu_user_static(docker_lab):
    """A foreign architecture: debootstrap --foreign, emulated second stage, platform linux/ppc64le."""
    out = build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock2", arch="ppc64el",
                                           tag="powerops/debian:bookworm-ppc64el"))
    assert out["smoke_test"].startswith("success")
    arch = _docker("dock2", "image", "inspect", "-f", "{{.Architecture}}", "powerops/debian:bookworm-ppc64el")
    assert arch.stdout.strip() == "ppc64le"
    uname = _docker("dock2", "run", "--rm", "powerops/debian:bookworm-ppc64el", "uname", "-m").stdout.strip()
    assert uname == "ppc64le"
