"""https upstreams with a certificate from a private CA (the lab's upstream nginx on 127.0.0.1:18474).

With the CA in a powerops-mirror-upstream-ca block the three mirror flows work; without it, or with another CA,
they stop with an UpstreamTLSError naming the upstream URL and the certificate problem, and publish nothing."""

from __future__ import annotations

import shutil
import uuid

import pytest

import lab.mirror as mirror_lab
from blocks.mirror import MirrorUpstreamCA
from core.mirror.errors import UpstreamTLSError
from flows._sync import call_flow
from flows.build_wheelhouse import BuildWheelhouseParams, build_wheelhouse
from flows.mirror_apt import MirrorAptParams, mirror_apt
from flows.mirror_common import Destination
from flows.mirror_yum import MirrorYumParams, mirror_yum
from lab.mirror.tls import ensure_ca
from lab.mirror.upstream import build_wheel, build_yum_upstream

pytestmark = pytest.mark.lab
NO_ISSUER = "unable to get local issuer certificate"


@pytest.fixture(scope="module")
def rogue_ca_block(mirror_env) -> str:  # type: ignore[no-untyped-def]
    """A valid CA block, but of another CA than the one that signed the upstream's certificate."""
    pem = ensure_ca(mirror_lab.tls_dir(mirror_env)).rogue_ca_pem.read_text()
    MirrorUpstreamCA(ca_pem=pem).save("test-mirror-rogue-ca", overwrite=True)
    return "test-mirror-rogue-ca"


def test_apt_upstream_with_private_ca(apt_upstream, local_root, rogue_ca_block):
    up = apt_upstream
    url = f"{mirror_lab.UPSTREAM_TLS_URL}/{up.name}"
    p = MirrorAptParams(upstream_url=url, suites=["bookworm"], keyring_block=up.keyring_block,
                        destination=Destination(name=up.name, local_root=str(local_root)))
    current = local_root / up.name / "current"

    with pytest.raises(UpstreamTLSError) as no_ca:
        call_flow(mirror_apt, p)
    msg = str(no_ca.value)
    assert f"{url}/dists/bookworm/InRelease" in msg and NO_ISSUER in msg, msg
    assert "powerops-mirror-upstream-ca" in msg
    with pytest.raises(UpstreamTLSError, match=NO_ISSUER):
        call_flow(mirror_apt, p.model_copy(update={"upstream_ca_block": rogue_ca_block}))
    assert not current.exists()

    r = call_flow(mirror_apt, p.model_copy(update={"upstream_ca_block": "lab-mirror-upstream-ca"}))
    assert r["changed"] and r["downloaded"] == 5, r  # packages through the pipelined fetcher, over TLS
    deb = "pool/main/p/powerops-hello/powerops-hello_1.0_ppc64el.deb"
    assert (current / deb).read_bytes() == (up.repo.root / deb).read_bytes()


def test_yum_upstream_with_private_ca(mirror_env, rogue_ca_block):
    tag = f"y{uuid.uuid4().hex[:8]}"
    root = mirror_lab.upstream_dir(mirror_env) / tag
    up = build_yum_upstream(root, mirror_lab.key_dir(mirror_env), packages=2)
    dest = mirror_lab.area_dir(mirror_env) / "local"
    url = f"{mirror_lab.UPSTREAM_TLS_URL}/{tag}"
    p = MirrorYumParams(upstream_url=url, keyring_block="lab-mirror-upstream",
                        destination=Destination(name=tag, local_root=str(dest)))
    try:
        with pytest.raises(UpstreamTLSError) as no_ca:
            call_flow(mirror_yum, p)
        assert f"{url}/repodata/repomd.xml" in str(no_ca.value) and NO_ISSUER in str(no_ca.value)
        assert not (dest / tag / "current").exists()
        r = call_flow(mirror_yum, p.model_copy(update={"upstream_ca_block": "lab-mirror-upstream-ca"}))
        assert r["changed"]
        for rpm in up.packages():
            assert (dest / tag / "current" / "Packages" / rpm.name).read_bytes() == rpm.read_bytes()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(dest / tag, ignore_errors=True)


def test_wheelhouse_from_private_ca_find_links(mirror_env, local_root):
    tag = f"w{uuid.uuid4().hex[:8]}"
    d = mirror_lab.upstream_dir(mirror_env) / tag
    build_wheel(d, "powerops-tlsdemo", "1.0")
    links = f"{mirror_lab.UPSTREAM_TLS_URL}/{tag}/"
    p = BuildWheelhouseParams(requirements=["powerops-tlsdemo==1.0"], no_index=True, find_links=[links],
                              destination=Destination(name=tag, local_root=str(local_root)))
    try:
        with pytest.raises(UpstreamTLSError) as no_ca:
            build_wheelhouse(p)
        assert links in str(no_ca.value) and "certificate" in str(no_ca.value), str(no_ca.value)
        assert not (local_root / tag / "current").exists()
        r = build_wheelhouse(p.model_copy(update={"upstream_ca_block": "lab-mirror-upstream-ca"}))
        assert r["changed"] and r["distributions"] == ["powerops_tlsdemo-1.0-py3-none-any.whl"]
        whl = local_root / tag / "current" / "packages" / "powerops_tlsdemo-1.0-py3-none-any.whl"
        assert whl.read_bytes() == (d / "powerops_tlsdemo-1.0-py3-none-any.whl").read_bytes()
    finally:
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(local_root / tag, ignore_errors=True)
