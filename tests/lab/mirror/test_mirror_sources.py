"""mirror-apt with source packages: the Sources index and the .dsc/.orig/.debian files it lists, proven with a
real ``apt-get source --download-only`` on the mirror client and ``dpkg-source -x`` (which checks every file
against the .dsc)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

import lab.mirror as mirror_lab
from core.mirror.deb822 import parse_release, parse_sources
from core.mirror.signed import clearsigned_body
from flows._sync import call_flow
from flows.configure_mirror_clients import AptClient, ConfigureMirrorClientsParams, configure_mirror_clients
from flows.mirror_apt import MirrorAptParams, mirror_apt
from flows.mirror_common import Destination
from lab import netns

pytestmark = pytest.mark.lab


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def chroot(lab_ctx, *argv: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    root = mirror_lab.client_root(lab_ctx)
    return subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, ["chroot", str(root), *argv]),
                          capture_output=True, text=True, timeout=300)


def test_source_packages_mirrored_and_fetched_with_apt_get_source(apt_upstream, mirror_env, tmp_path):
    up = apt_upstream
    made = up.repo.add_source("powerops-hello", "1.0-1")
    up.repo.publish()
    assert (up.repo.root / "dists/bookworm/main/source/Sources").exists()

    # without sources, the Sources index and the source files are not mirrored
    dest = Destination(name=up.name, mirror_host_block="lab-mirror-host")
    p = MirrorAptParams(upstream_url=up.url, suites=["bookworm"], destination=dest, keyring_block=up.keyring_block)
    r0 = call_flow(mirror_apt, p)
    current = mirror_lab.srv_dir(mirror_env) / up.name / "current"
    assert r0["changed"] and not (current / "dists/bookworm/main/source").exists()
    assert not list((current / "pool/main/p/powerops-hello").glob("*.dsc"))

    r = call_flow(mirror_apt, p.model_copy(update={"sources": True}))
    assert r["changed"] and r["downloaded"] == 3, r  # .dsc, .orig.tar.gz, .debian.tar.xz

    # the Sources index is the one the signed InRelease names, and every file it lists is there, checked
    release = parse_release(clearsigned_body((current / "dists/bookworm/InRelease").read_text()))
    sources_index = current / "dists/bookworm/main/source/Sources"
    assert sha(sources_index) == release.files["main/source/Sources"].sha256
    (pkg,) = parse_sources(sources_index.read_text())
    assert pkg.name == "powerops-hello" and pkg.version == "1.0-1"
    assert sorted(Path(f).name for f in pkg.files) == sorted(f.name for f in made)
    for path, entry in pkg.files.items():
        f = current / path
        assert f.stat().st_size == entry.size and sha(f) == entry.sha256, path
        assert sha(f) == sha(up.repo.root / path), path

    # a real client fetches the source package from the mirror host
    root = mirror_lab.client_root(mirror_env)
    configure_mirror_clients(ConfigureMirrorClientsParams(
        targets=["lab-mirror-client-ssh"], mirror_host_block="lab-mirror-host", root=str(root),
        apt=[AptClient(name=up.name, suites=["bookworm"], architectures=["ppc64el"],
                       keyring_block="lab-mirror-upstream", sources=True)]))
    listing = root / f"etc/apt/sources.list.d/powerops-{up.name}.list"
    assert "deb-src [signed-by=" in listing.read_text()
    work = root / "tmp" / f"src-{up.name}"
    try:
        work.mkdir(parents=True)
        upd = chroot(mirror_env, "apt-get", "update")
        assert upd.returncode == 0 and "W:" not in upd.stdout + upd.stderr, upd.stdout + upd.stderr
        got = chroot(mirror_env, "env", "-C", f"/tmp/src-{up.name}", "apt-get", "source", "--download-only",
                     "powerops-hello")
        assert got.returncode == 0, got.stdout + got.stderr
        fetched = sorted(f.name for f in work.iterdir())
        assert fetched == sorted(f.name for f in made), got.stdout
        for f in made:
            assert sha(work / f.name) == sha(f), f.name

        # dpkg-source checks each file against the .dsc (size + checksums) before unpacking
        dsc = next(work.glob("*.dsc"))
        out = tmp_path / "unpacked"
        x = subprocess.run(["dpkg-source", "-x", str(dsc), str(out)], capture_output=True, text=True, timeout=120)
        assert x.returncode == 0, x.stdout + x.stderr
        assert (out / "README").read_text() == "powerops-hello 1.0 bookworm\n"
        assert (out / "debian" / "changelog").read_text().startswith("powerops-hello (1.0-1)")

        # a tampered source file on the mirror is refused by dpkg-source (the check above can fail)
        bad = work / next(f.name for f in made if f.name.endswith(".orig.tar.gz"))
        data = bytearray(bad.read_bytes())
        data[-1] ^= 0xFF
        bad.write_bytes(bytes(data))
        x2 = subprocess.run(["dpkg-source", "-x", str(dsc), str(tmp_path / "unpacked2")], capture_output=True,
                            text=True, timeout=120)
        assert x2.returncode != 0 and "checksum" in (x2.stdout + x2.stderr).lower(), x2.stdout + x2.stderr
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
        listing.unlink(missing_ok=True)
        (root / f"etc/apt/keyrings/powerops-{up.name}.gpg").unlink(missing_ok=True)
        chroot(mirror_env, "rm", "-rf", "/var/lib/apt/lists")
