"""mirror-yum against the lab: createrepo_c upstream, signed repomd.xml, SSH publish, metadata + checksums proof."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid

import httpx
import pytest

import lab.mirror as mirror_lab
from core.mirror.errors import MirrorError, SignatureInvalid
from core.mirror.yum import decompress, parse_primary, parse_repomd
from flows._sync import call_flow
from flows.configure_mirror_clients import ConfigureMirrorClientsParams, YumClient, configure_mirror_clients
from flows.mirror_common import Destination
from flows.mirror_yum import MirrorYumParams, mirror_yum
from lab import netns
from lab.mirror.upstream import build_yum_upstream
from tests.lab.mirror.conftest import run_flow_with_artifacts

pytestmark = pytest.mark.lab


@pytest.fixture
def yum_upstream(mirror_env):  # type: ignore[no-untyped-def]
    tag = f"y{uuid.uuid4().hex[:8]}"
    root = mirror_lab.upstream_dir(mirror_env) / tag
    up = build_yum_upstream(root, mirror_lab.key_dir(mirror_env), packages=3)
    yield tag, up
    shutil.rmtree(root, ignore_errors=True)
    for d in (mirror_lab.srv_dir(mirror_env) / tag, mirror_lab.area_dir(mirror_env) / "cache" / tag):
        shutil.rmtree(d, ignore_errors=True)


def params(tag: str, **kw) -> MirrorYumParams:  # type: ignore[no-untyped-def]
    return MirrorYumParams(upstream_url=f"{mirror_lab.UPSTREAM_URL}/{tag}",
                           destination=Destination(name=tag, mirror_host_block="lab-mirror-host"),
                           keyring_block="lab-mirror-upstream", **kw)


def prove_repo(url: str) -> int:
    """From the client host: the published metadata parses and every package matches its checksum."""
    script = (
        "import sys, hashlib, urllib.request as u\n"
        "base = sys.argv[1]\n"
        "sys.stdout.buffer.write(u.urlopen(base + 'repodata/repomd.xml').read())\n"
    )
    res = subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, ["/usr/bin/python3", "-c", script, url]),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    repomd = parse_repomd(res.stdout)
    with httpx.Client(base_url=url, transport=None) as c:  # the worker reaches the lab bridge too
        primary = next(r for r in repomd if r.type == "primary")
        for r in repomd:
            data = c.get(r.href).content
            assert hashlib.sha256(data).hexdigest() == r.entry.sha256, r.href
        pkgs = parse_primary(decompress(primary.href, c.get(primary.href).content))
        for p in pkgs:
            data = c.get(p.href).content
            assert len(data) == p.entry.size and hashlib.sha256(data).hexdigest() == p.entry.sha256, p.href
    return len(pkgs)


def test_yum_full_incremental_and_proof(yum_upstream, mirror_env, tmp_path):
    tag, up = yum_upstream
    r1, arts = run_flow_with_artifacts(mirror_yum, params(tag))
    assert r1["changed"] and r1["packages"] == 3 and r1["downloaded"] == 3
    assert {"mirror-yum-plan", "mirror-yum-summary"} <= set(arts), sorted(arts)
    url = f"http://{mirror_lab.MIRROR_IP}/{tag}/"
    assert prove_repo(url) == 3

    # the packages themselves are intact RPMs (rpm checks their internal digests)
    pkg = next((mirror_lab.srv_dir(mirror_env) / tag / "current" / "Packages").glob("powerops-engine-*.rpm"))
    assert subprocess.run(["rpm", "-K", "--nosignature", str(pkg)], capture_output=True).returncode == 0

    assert call_flow(mirror_yum, params(tag)) == {"changed": False, "reason": "upstream unchanged"}

    up.add_package("powerops-engine", "1.13.1")
    up.add_package("powerops-unsigned", "1.0", sign=False)
    up.remove_package("powerops-rpm000")
    up.publish()
    r2 = call_flow(mirror_yum, params(tag))
    assert r2["changed"] and r2["downloaded"] == 2 and r2["packages"] == 4, r2
    assert prove_repo(url) == 4
    current = mirror_lab.srv_dir(mirror_env) / tag / "current" / "Packages"
    assert not list(current.glob("powerops-rpm000-*")) and list(current.glob("powerops-engine-1.13.1-*"))

    # client side: the .repo file and the key
    root = mirror_lab.client_root(mirror_env)
    configure_mirror_clients(ConfigureMirrorClientsParams(
        targets=["lab-mirror-client-ssh"], mirror_host_block="lab-mirror-host", root=str(root),
        yum=[YumClient(name=tag, keyring_block="lab-mirror-upstream")]))
    repo = root / f"etc/yum.repos.d/powerops-{tag}.repo"
    key = root / f"etc/pki/rpm-gpg/RPM-GPG-KEY-powerops-{tag}"
    try:
        text = repo.read_text()
        assert f"baseurl={url}" in text and "gpgcheck=1" in text
        assert key.read_bytes().startswith(b"-----BEGIN PGP")
        # a real dnf, over the lab network, with the rendered .repo (gpgcheck on) and the installed key; the key
        # path is prefixed with the install root because dnf reads file:// keys from the host's filesystem
        dnf = ["dnf", "-y", f"--installroot={root}", "--releasever=9", "--forcearch=ppc64le",
               "--setopt=install_weak_deps=False", f"--setopt=powerops-{tag}.gpgkey=file://{key}"]
        res = subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, [*dnf, "install", "powerops-engine-1.13.1"]),
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        assert (root / "usr/share/doc/powerops-engine/README").read_text() == "powerops-engine 1.13.1-1\n"
        res = subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, [*dnf, "remove", "powerops-engine"]),
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        # gpgcheck is really on: the unsigned package is mirrored, but dnf refuses to install it
        res = subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, [*dnf, "install", "powerops-unsigned"]),
                             capture_output=True, text=True, timeout=300)
        assert res.returncode != 0 and "not signed" in res.stdout + res.stderr, res.stdout + res.stderr
    finally:
        repo.unlink(missing_ok=True)
        key.unlink(missing_ok=True)


def test_yum_bad_signature_and_bad_package(yum_upstream, mirror_env, rogue_key):
    tag, up = yum_upstream
    call_flow(mirror_yum, params(tag))
    current = mirror_lab.srv_dir(mirror_env) / tag / "current"
    published = current.resolve()
    up.add_package("powerops-evil", "6.6")
    up.publish(signer=rogue_key)
    with pytest.raises(SignatureInvalid):
        call_flow(mirror_yum, params(tag))
    up.publish(sign=False)
    with pytest.raises(SignatureInvalid, match="no signature"):
        call_flow(mirror_yum, params(tag))
    assert current.resolve() == published
    up.publish()
    evil = next(up.root.glob("Packages/powerops-evil-*.rpm"))
    data = bytearray(evil.read_bytes())
    data[-1] ^= 0xFF
    evil.write_bytes(bytes(data))
    with pytest.raises(MirrorError, match="checksum mismatch"):
        call_flow(mirror_yum, params(tag))
    assert current.resolve() == published and not list((current / "Packages").glob("powerops-evil-*"))
