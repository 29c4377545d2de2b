"""mirror-apt against the lab: full run, incremental run, corruption, resume, bad signatures, real apt-get."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

import lab.mirror as mirror_lab
from core.mirror.deb822 import parse_packages
from core.mirror.errors import MirrorError, SignatureInvalid
from core.mirror.plan import MANIFEST, STAMP, partial_path
from flows._sync import call_flow
from flows.configure_mirror_clients import AptClient, ConfigureMirrorClientsParams, configure_mirror_clients
from flows.mirror_apt import MirrorAptParams, mirror_apt
from flows.mirror_common import Destination
from lab import netns
from tests.lab.mirror.conftest import run_flow_with_artifacts

pytestmark = pytest.mark.lab


def params(up, local_root: Path | None = None, **kw) -> MirrorAptParams:  # type: ignore[no-untyped-def]
    dest = (Destination(name=up.name, local_root=str(local_root)) if local_root is not None
            else Destination(name=up.name, mirror_host_block="lab-mirror-host"))
    return MirrorAptParams(upstream_url=up.url, suites=["bookworm"], architectures=["ppc64el"],
                           destination=dest, keyring_block=up.keyring_block, **kw)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def check_tree(current: Path) -> int:
    """Every package the published Packages lists is there with its size and SHA256; returns the count."""
    pkgs = parse_packages((current / "dists/bookworm/main/binary-ppc64el/Packages").read_text())
    for p in pkgs:
        f = current / p.filename
        assert f.stat().st_size == p.size, p.filename
        assert sha(f) == p.sha256, p.filename
    return len(pkgs)


def test_full_then_incremental_then_unchanged(apt_upstream, local_root, monkeypatch):
    up = apt_upstream
    monkeypatch.setenv("POWEROPS_PROGRESS_AFTER_S", "0")  # a bar even for this sub-second download
    r1, arts = run_flow_with_artifacts(mirror_apt, params(up, local_root))
    current = local_root / up.name / "current"
    assert r1["changed"] and r1["downloaded"] == 5  # 4 ppc64el + 1 all; the amd64 one is not mirrored
    assert {"mirror-apt-plan", "mirror-apt-summary"} <= set(arts), sorted(arts)
    assert arts["mirror-apt-summary"].type == "table" and '"snapshot"' in str(arts["mirror-apt-summary"].data)
    # download progress, published from a background thread, arrives and ends at 100 %
    progress = arts["progress: mirror download: packages (5 files)"]
    assert float(progress.data) == 100.0
    assert check_tree(current) == 5
    assert (current / "dists/bookworm/InRelease").read_bytes() == (up.repo.root / "dists/bookworm/InRelease").read_bytes()
    first = current.resolve()

    # upstream change: one package added, one removed, index re-signed
    up.repo.add_package("powerops-new", "3.0", "ppc64el")
    gone = up.repo.remove_package("pkg00001")
    up.repo.publish()
    r2 = call_flow(mirror_apt, params(up, local_root))
    assert r2["changed"] and r2["downloaded"] == 1, r2  # only the new package
    assert r2["added"] >= 1 and r2["removed"] >= 1
    assert check_tree(current) == 5
    assert (current / "pool/main/p/powerops-new/powerops-new_3.0_ppc64el.deb").exists()
    assert not (current / "pool/main/p/pkg00001").exists() and gone
    assert current.resolve() != first

    # no change: nothing downloaded, nothing published
    before = current.resolve()
    r3, arts = run_flow_with_artifacts(mirror_apt, params(up, local_root))
    assert r3 == {"changed": False, "reason": "upstream unchanged"}
    assert not arts, sorted(arts)  # no artifact: the keyed summary still shows the run that changed the mirror
    assert current.resolve() == before

    # re-signed only: new InRelease bytes, no package downloaded
    up.repo.resign()
    r4 = call_flow(mirror_apt, params(up, local_root))
    assert r4["changed"] and r4["downloaded"] == 0
    assert (current / "dists/bookworm/InRelease").read_bytes() == (up.repo.root / "dists/bookworm/InRelease").read_bytes()


def test_corrupted_file_is_detected_and_refetched(apt_upstream, local_root):
    up = apt_upstream
    call_flow(mirror_apt, params(up, local_root))
    current = local_root / up.name / "current"
    victim = current / "pool/main/p/powerops-hello/powerops-hello_1.0_ppc64el.deb"
    good = sha(victim)
    data = bytearray(victim.read_bytes())
    data[10] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert sha(victim) != good
    r = call_flow(mirror_apt, params(up, local_root, verify_existing=True))
    assert r["changed"] and r["downloaded"] == 1
    assert sha(current / "pool/main/p/powerops-hello/powerops-hello_1.0_ppc64el.deb") == good


def test_upstream_file_with_wrong_checksum_is_refused(apt_upstream, local_root):
    up = apt_upstream
    call_flow(mirror_apt, params(up, local_root))
    current = local_root / up.name / "current"
    published = current.resolve()
    up.repo.add_package("powerops-late", "1.0", "ppc64el")
    up.repo.publish()
    up.repo.corrupt(up.repo.deb_path("powerops-late", "1.0", "ppc64el"))
    with pytest.raises(MirrorError, match="checksum mismatch"):
        call_flow(mirror_apt, params(up, local_root))
    assert current.resolve() == published
    assert not (current / "pool/main/p/powerops-late").exists()


def test_interrupted_download_resumes(apt_upstream, local_root):
    up = apt_upstream
    deb = up.repo.add_package("powerops-big", "1.0", "ppc64el", payload_size=6 << 20)
    up.repo.publish()
    size, digest = deb.stat().st_size, sha(deb)
    dest = local_root / up.name
    # what an interrupted run leaves: the first 40% in the partial file
    part = dest / partial_path(digest)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(deb.read_bytes()[: size * 4 // 10])
    r = call_flow(mirror_apt, params(up, local_root))
    assert r["resumed"] == 1
    assert r["bytes"] < size + 100_000  # the big file was not fetched again from its start
    assert sha(dest / "current/pool/main/p/powerops-big/powerops-big_1.0_ppc64el.deb") == digest
    assert not part.exists()


def test_bad_signature_stops_and_keeps_published(apt_upstream, local_root, rogue_key):
    up = apt_upstream
    call_flow(mirror_apt, params(up, local_root))
    current = local_root / up.name / "current"
    published = current.resolve()
    inrelease = (current / "dists/bookworm/InRelease").read_bytes()

    up.repo.add_package("powerops-evil", "6.6", "ppc64el")
    up.repo.publish()
    up.repo.tamper_release()
    with pytest.raises(SignatureInvalid, match="bad signature"):
        call_flow(mirror_apt, params(up, local_root))
    assert current.resolve() == published and (current / "dists/bookworm/InRelease").read_bytes() == inrelease

    up.repo.publish(signer=rogue_key)
    with pytest.raises(SignatureInvalid, match="not in the configured keyring"):
        call_flow(mirror_apt, params(up, local_root))

    up.repo.publish(sign=False)
    with pytest.raises(SignatureInvalid, match="no signature"):
        call_flow(mirror_apt, params(up, local_root))
    assert current.resolve() == published
    assert not (current / "pool/main/p/powerops-evil").exists()
    # explicitly allowed: the unsigned upstream is mirrored
    r = call_flow(mirror_apt, params(up, local_root, allow_unsigned=True))
    assert r["changed"] and (current / "pool/main/p/powerops-evil").exists()


def test_dry_run_changes_nothing(apt_upstream, local_root):
    up = apt_upstream
    r = call_flow(mirror_apt, params(up, local_root, dry_run=True))
    assert r["dry_run"] and r["to download"] == 5
    assert not (local_root / up.name / "current").exists()


def chroot(lab_ctx, *argv: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    root = mirror_lab.client_root(lab_ctx)
    return subprocess.run(netns.exec_argv(mirror_lab.CLIENT_NODE, ["chroot", str(root), *argv]),
                          capture_output=True, text=True, timeout=300)


def test_ssh_mirror_host_and_real_apt_get(apt_upstream, mirror_env):
    """Publish on the mirror host over SSH, configure the client over SSH, then a real apt-get install."""
    up = apt_upstream
    r = call_flow(mirror_apt, params(up))
    assert r["changed"] and r["url"] == f"http://{mirror_lab.MIRROR_IP}/{up.name}/"
    srv = mirror_lab.srv_dir(mirror_env) / up.name
    assert (srv / "current").is_symlink()
    stamp = json.loads((srv / "current" / STAMP).read_text())
    assert stamp["kind"] == "apt"
    assert json.loads((srv / "current" / MANIFEST).read_text())

    root = mirror_lab.client_root(mirror_env)
    configure_mirror_clients(ConfigureMirrorClientsParams(
        targets=["lab-mirror-client-ssh"], mirror_host_block="lab-mirror-host", root=str(root),
        apt=[AptClient(name=up.name, suites=["bookworm"], architectures=["ppc64el"],
                       keyring_block="lab-mirror-upstream")]))
    src = root / f"etc/apt/sources.list.d/powerops-{up.name}.list"
    assert f"signed-by=/etc/apt/keyrings/powerops-{up.name}.gpg" in src.read_text()
    try:
        assert chroot(mirror_env, "dpkg", "--add-architecture", "ppc64el").returncode == 0
        upd = chroot(mirror_env, "apt-get", "update")
        assert upd.returncode == 0 and "W:" not in upd.stdout + upd.stderr, upd.stdout + upd.stderr
        inst = chroot(mirror_env, "apt-get", "install", "-y", "powerops-hello:ppc64el")
        assert inst.returncode == 0, inst.stdout + inst.stderr
        assert (root / "usr/share/doc/powerops-hello/README").read_text().startswith("powerops-hello 1.0")

        # an upstream update reaches the client through an incremental SSH run
        up.repo.add_package("powerops-hello", "1.1", "ppc64el", depends="powerops-data")
        up.repo.publish()
        r2 = call_flow(mirror_apt, params(up))
        assert r2["changed"] and r2["downloaded"] == 1 and r2["objects sent"] >= 1
        assert chroot(mirror_env, "apt-get", "update").returncode == 0
        inst = chroot(mirror_env, "apt-get", "install", "-y", "powerops-hello:ppc64el")
        assert inst.returncode == 0, inst.stdout + inst.stderr
        assert (root / "usr/share/doc/powerops-hello/README").read_text().startswith("powerops-hello 1.1")
    finally:
        chroot(mirror_env, "apt-get", "purge", "-y", "powerops-hello:ppc64el", "powerops-data")
        src.unlink(missing_ok=True)
        (root / f"etc/apt/keyrings/powerops-{up.name}.gpg").unlink(missing_ok=True)
        chroot(mirror_env, "rm", "-rf", "/var/lib/apt/lists")


def test_download_worker_processes(apt_upstream, local_root):
    """The multi-process download path (used for thousands of small files) checks every file the same way."""
    from core.mirror.plan import Download
    from seams.mirror_store import LocalStore
    from tasks.mirror import download_files

    up = apt_upstream
    store = LocalStore(local_root / up.name)
    store.ensure_layout()
    debs = up.repo.packages()
    items = [Download(str(p.relative_to(up.repo.root)), p.stat().st_size, sha(p)) for p in debs]
    bad = Download(items[0].path, items[0].size, "0" * 64)
    missing = Download("pool/main/n/nope/nope_1_ppc64el.deb", 10, "1" * 64)
    report = download_files.fn(store, up.url, [*items[1:], bad, missing], workers=2, optional=[missing.path])
    assert report.files == len(items) - 1
    assert list(report.failed) == [bad.path] and "checksum mismatch" in report.failed[bad.path]
    assert report.missing_optional == [missing.path]
    for d in items[1:]:
        assert sha(store.object_path(d.sha256)) == d.sha256


def test_killed_run_resumes_and_never_publishes_half(apt_upstream, local_root):
    """A run killed in the middle of a download (SIGKILL) publishes nothing; the next run resumes the file."""
    import os
    import signal
    import sys
    import time

    up = apt_upstream
    deb = up.repo.add_package("powerops-huge", "1.0", "ppc64el", payload_size=24 << 20)
    up.repo.publish()
    size, digest = deb.stat().st_size, sha(deb)
    dest = local_root / up.name
    part = dest / partial_path(digest)
    slow = up.url.replace(mirror_lab.UPSTREAM_URL, f"{mirror_lab.UPSTREAM_URL}/slow")  # nginx limit_rate 2m
    code = (
        "from flows.mirror_apt import MirrorAptParams, mirror_apt\n"
        "from flows.mirror_common import Destination\n"
        "from flows._sync import call_flow\n"
        f"call_flow(mirror_apt, MirrorAptParams(upstream_url={slow!r}, suites=['bookworm'], keyring_block={up.keyring_block!r},"
        f" destination=Destination(name={up.name!r}, local_root={str(local_root)!r})))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(Path(__file__).resolve().parents[3]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (part.exists() and part.stat().st_size > (2 << 20)):
            assert proc.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.1)
        assert part.exists(), "the download never started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    kept = part.stat().st_size
    assert 0 < kept < size
    assert not (dest / "current").exists()  # nothing half-done was published

    r = call_flow(mirror_apt, params(up, local_root))
    assert r["changed"] and r["resumed"] == 1
    assert r["bytes"] <= size - kept + 200_000  # only the rest of the big file (+ the small packages)
    assert sha(dest / "current/pool/main/p/powerops-huge/powerops-huge_1.0_ppc64el.deb") == digest


def test_installer_images(apt_upstream, local_root):
    up = apt_upstream
    files = up.repo.add_installer()
    up.repo.publish()
    r = call_flow(mirror_apt, params(up, local_root, installer=True))
    images = local_root / up.name / "current/dists/bookworm/main/installer-ppc64el/current/images"
    assert r["changed"]
    for rel, data in files.items():
        assert (images / rel).read_bytes() == data
    assert (images / "SHA256SUMS").exists()


def test_operated_run_wraps_the_async_flow_as_a_sub_run(apt_upstream, local_root):
    """The deployments' wrapper (sync flow) runs async mirror-apt as a linked sub-run and reports its result."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    from deployments.models import OpsOptions
    from deployments.ops_flows import ops_mirror_apt

    state = ops_mirror_apt(params(apt_upstream, local_root), OpsOptions(ticket_id="CHG-4711"), return_state=True)
    result = state.result()
    assert result["changed"] and result["downloaded"] == 5, result
    with get_client(sync_client=True) as client:
        subs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[state.state_details.flow_run_id])))
        flows = {client.read_flow(r.flow_id).name for r in subs}
    assert flows == {"mirror-apt"}, flows
    assert all(r.state is not None and r.state.is_completed() for r in subs)
