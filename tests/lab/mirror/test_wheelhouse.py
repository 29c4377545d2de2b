"""build-wheelhouse against the lab: pip download for ppc64le, PEP 503 index on the mirror host, real pip installs."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

import lab.mirror as mirror_lab
from flows.build_wheelhouse import BuildWheelhouseParams, build_wheelhouse
from flows.configure_mirror_clients import ConfigureMirrorClientsParams, PipClient, configure_mirror_clients
from flows.mirror_common import Destination
from lab import netns
from lab.mirror.upstream import build_wheel

pytestmark = pytest.mark.lab
PIP = "/usr/bin/python3"


@pytest.fixture
def wheel_upstream(mirror_env):  # type: ignore[no-untyped-def]
    tag = f"w{uuid.uuid4().hex[:8]}"
    d = mirror_lab.upstream_dir(mirror_env) / tag
    build_wheel(d, "powerops-compose", "1.29.2", ["powerops-yaml>=5"])
    build_wheel(d, "powerops-yaml", "5.4")
    build_wheel(d, "powerops-unrelated", "0.1")
    yield tag, d
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(mirror_lab.srv_dir(mirror_env) / tag, ignore_errors=True)
    shutil.rmtree(mirror_lab.area_dir(mirror_env) / "cache" / tag, ignore_errors=True)


def pip_in_client(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["env", *[f"{k}={v}" for k, v in (env or {}).items()], PIP, "-m", "pip", *argv]
    return subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, cmd), capture_output=True, text=True, timeout=300)


def test_wheelhouse_published_and_installed_offline(wheel_upstream, mirror_env, tmp_path):
    tag, upstream = wheel_upstream
    p = BuildWheelhouseParams(requirements=["powerops-compose==1.29.2"], no_index=True,
                              find_links=[f"{mirror_lab.UPSTREAM_URL}/{tag}/"],
                              destination=Destination(name=tag, mirror_host_block="lab-mirror-host"))
    r = build_wheelhouse(p)
    assert r["changed"]
    assert r["distributions"] == ["powerops_compose-1.29.2-py3-none-any.whl", "powerops_yaml-5.4-py3-none-any.whl"]
    index_url = r["index_url"]
    assert index_url == f"http://{mirror_lab.MIRROR_IP}/{tag}/simple/"

    # same requirement set again: nothing to publish
    assert build_wheelhouse(p)["changed"] is False

    # pip install --index-url through the rendered pip.conf, from the client host over the lab network
    root = mirror_lab.client_root(mirror_env)
    configure_mirror_clients(ConfigureMirrorClientsParams(
        targets=["lab-mirror-client-ssh"], mirror_host_block="lab-mirror-host", root=str(root),
        pip=PipClient(name=tag, conf_path=f"/etc/pip-{tag}.conf")))
    conf = root / f"etc/pip-{tag}.conf"
    assert f"index-url = {index_url}" in conf.read_text()
    try:
        t1 = tmp_path / "via-index"
        res = pip_in_client("install", "--no-cache-dir", "--target", str(t1), "powerops-compose",
                            env={"PIP_CONFIG_FILE": str(conf)})
        assert res.returncode == 0, res.stdout + res.stderr
        assert (t1 / "powerops_compose" / "__init__.py").exists() and (t1 / "powerops_yaml").is_dir()

        # and fully offline from the published packages directory (--no-index --find-links)
        t2 = tmp_path / "no-index"
        res = pip_in_client("install", "--no-cache-dir", "--no-index", "--find-links",
                            f"http://{mirror_lab.MIRROR_IP}/{tag}/packages/", "--trusted-host", mirror_lab.MIRROR_IP,
                            "--target", str(t2), "powerops-compose", env={"PIP_CONFIG_FILE": "/dev/null"})
        assert res.returncode == 0, res.stdout + res.stderr
        assert (t2 / "powerops_yaml" / "__init__.py").exists()

        # a package that was not in the requirement set is not there
        res = pip_in_client("install", "--no-cache-dir", "--target", str(tmp_path / "x"), "powerops-unrelated",
                            env={"PIP_CONFIG_FILE": str(conf)})
        assert res.returncode != 0
    finally:
        conf.unlink(missing_ok=True)
