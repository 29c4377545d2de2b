"""serve-mirrors against the lab mirror host: the nginx site is written over SSH, checked, reloaded."""

from __future__ import annotations

import time

import httpx
import pytest

import lab.mirror as mirror_lab
from blocks.mirror import MirrorHost
from core.errors import CommandFailed
from flows.serve_mirrors import ServeMirrorsParams, serve_mirrors

pytestmark = pytest.mark.lab


def test_serve_mirrors_converges_and_rolls_back(mirror_env, apt_upstream, local_root):
    host = MirrorHost.load("lab-mirror-host")
    site = mirror_lab.lab_path(host.web_conf_path)
    original = site.read_bytes()
    try:
        # a drifted site (serving a wrong root): the flow rewrites it, nginx -t passes, nginx reloads
        site.write_text(original.decode().replace(host.root, "/nonexistent"))
        r = serve_mirrors(ServeMirrorsParams(mirror_host_block="lab-mirror-host"))
        assert r["changed"] and site.read_bytes() == original
        srv = mirror_lab.srv_dir(mirror_env) / "served-probe"
        (srv / "current").mkdir(parents=True, exist_ok=True)
        (srv / "current" / "hello.txt").write_text("served\n")
        got = ""
        for _ in range(50):  # nginx reloads asynchronously (new workers replace the old ones)
            got = httpx.get(f"http://{mirror_lab.MIRROR_IP}/served-probe/hello.txt", timeout=5).text
            if got == "served\n":
                break
            time.sleep(0.1)
        assert got == "served\n"

        # converged: nothing written, nothing reloaded
        assert serve_mirrors(ServeMirrorsParams(mirror_host_block="lab-mirror-host"))["changed"] is False

        # the web server refuses the configuration: the previous site is put back
        broken = host.model_copy(update={"web_test_command": ["false"]})
        broken.save("lab-mirror-host-broken", overwrite=True)
        site.write_text("# previous site\n")
        with pytest.raises(CommandFailed):
            serve_mirrors(ServeMirrorsParams(mirror_host_block="lab-mirror-host-broken"))
        assert site.read_text() == "# previous site\n"
    finally:
        site.write_bytes(original)
        serve_mirrors(ServeMirrorsParams(mirror_host_block="lab-mirror-host"))
        import shutil

        shutil.rmtree(mirror_lab.srv_dir(mirror_env) / "served-probe", ignore_errors=True)
