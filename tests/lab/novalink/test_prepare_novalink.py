"""prepare-novalink-install and remove-novalink-install against the lab install server (no qemu)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.novalink.conftest import ADMIN_PASSWORD, partition, prepare_params

pytestmark = pytest.mark.lab


def _remove(lab, parts, confirm=True):
    import lab.netboot as nb
    from core.novalink.model import ClientRef, InstallMedia
    from flows.prepare_novalink_install import RemoveNovaLinkParams, remove_novalink_install

    return remove_novalink_install(RemoveNovaLinkParams(
        install_server=lab["server"], media=InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer"),
        partitions=[ClientRef(partition_name=p.partition_name, hostname=p.hostname, mac=p.mac) for p in parts],
        confirm=confirm))


def test_prepare_two_partitions_verifies_then_rerun_changes_nothing(netboot_lab):
    from flows.prepare_novalink_install import prepare_novalink_install

    second = partition(partition_name="nova0696011", mac="52:54:00:4e:4c:81", ip="10.250.77.81")
    parts = [partition(), second]
    _remove(netboot_lab, parts)

    first = prepare_novalink_install(prepare_params(netboot_lab, parts))
    changed = first["changed"]
    assert any(c.endswith("grub.cfg-01-52-54-00-4e-4c-80") for c in changed)
    assert any(c.endswith("grub.cfg-01-52-54-00-4e-4c-81") for c in changed)
    assert any("reloaded dnsmasq" in c for c in changed)
    urls = [v["url"] for v in first["verified"]]
    assert any(u.startswith("tftp://") and u.endswith("core.elf") for u in urls)
    assert any(u.startswith("tftp://") and "grub.cfg-01-52-54-00-4e-4c-81" in u for u in urls)
    kernel = [v for v in first["verified"] if v["url"].endswith("install/vmlinux")][0]
    assert "Range" in kernel["result"] and int(kernel["size"]) > 10_000_000

    again = prepare_novalink_install(prepare_params(netboot_lab, parts))
    assert again["changed"] == []
    assert {r["action"] for r in again["plan"]} == {"none"}

    # the clear password is nowhere under the served tree; the hash is
    srv = Path(netboot_lab["state"]) / "netboot" / "srv" / "export" / "novalink-clients"
    texts = [f.read_text() for f in srv.rglob("*.cfg")]
    assert texts and all(ADMIN_PASSWORD not in t for t in texts)
    assert all("$6$" in t for t in texts)

    removed = _remove(netboot_lab, [second])["removed"]
    assert any(r.endswith("grub.cfg-01-52-54-00-4e-4c-81") for r in removed)
    assert not any("4e-4c-80" in r for r in removed)


def test_dry_run_plans_a_change_and_changes_nothing(netboot_lab):
    from flows.prepare_novalink_install import prepare_novalink_install

    prepare_novalink_install(prepare_params(netboot_lab, [partition()]))
    cfg = Path(netboot_lab["state"]) / "netboot/srv/export/novalink-clients/nova0696010/pvm-install.cfg"
    before = cfg.read_text()
    out = prepare_novalink_install(prepare_params(netboot_lab, [partition(timezone="America/New_York")],
                                                  dry_run=True))
    actions = {r["item"].split()[0]: r["action"] for r in out["plan"] if r["partition"] == "nova0696010"}
    assert actions["pvm-install.cfg"] == "update"
    assert actions["grub.cfg"] == "none"
    assert cfg.read_text() == before


def test_remove_needs_confirmation(netboot_lab):
    from core.errors import ConfirmationRequired
    from flows.prepare_novalink_install import prepare_novalink_install

    prepare_novalink_install(prepare_params(netboot_lab, [partition()], verify=False))
    with pytest.raises(ConfirmationRequired):
        _remove(netboot_lab, [partition()], confirm=False)


def test_prepare_from_an_iso_keeps_symlinks(netboot_lab):
    import lab.netboot as nb
    from core.novalink.model import InstallMedia
    from flows.prepare_novalink_install import prepare_novalink_install

    media = InstallMedia(name="novalink-lab-iso", installer="debian-installer")
    iso = nb.Dirs(Path(netboot_lab["state"]) / "netboot").media_iso
    params = prepare_params(netboot_lab, [partition()], media=media)
    params = params.model_copy(update={"media_source": str(iso)})
    out = prepare_novalink_install(params)
    staged = Path(netboot_lab["state"]) / "netboot/srv/export/novalink/novalink-lab-iso"
    assert (staged / "ubuntu").is_symlink() and (staged / "install/vmlinux").stat().st_size > 10_000_000
    assert (Path(netboot_lab["state"]) / "netboot/srv/export/novalink-repo/novalink-lab-iso/conf/distributions").exists()
    assert any(v["url"].endswith("novalink-lab-iso/install/vmlinux") for v in out["verified"])
    # back to the directory media for the other tests
    prepare_novalink_install(prepare_params(netboot_lab, [partition()]))


def test_npiv_partition_gets_a_patched_initrd(netboot_lab):
    """pvmdisk in grub.cfg and the author's initrd fix (grub-installer/bootdev), rebuilt only when needed."""
    import gzip
    import subprocess

    import lab.netboot as nb
    from core.novalink.model import InstallMedia
    from flows.prepare_novalink_install import prepare_novalink_install

    media = InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer", initrd_preseed="preseed.cfg")
    npiv = partition(partition_name="nova0696013", mac="52:54:00:4e:4c:83", ip="10.250.77.83",
                     pvmdisk="/dev/mapper/mpatha")
    _remove(netboot_lab, [npiv])
    out = prepare_novalink_install(prepare_params(netboot_lab, [npiv], media=media))
    client = Path(netboot_lab["state"]) / "netboot/srv/export/novalink-clients/nova0696013"
    patched = client / "initrd-bootdev.gz"
    assert str(patched) in out["changed"]
    listing = subprocess.run(["cpio", "-i", "--to-stdout", "preseed.cfg"], input=gzip.decompress(patched.read_bytes()),
                             capture_output=True, check=True).stdout.decode()
    assert listing.strip().endswith("d-i grub-installer/bootdev string /dev/mapper/mpatha")
    grub = (Path(netboot_lab["state"]) / "netboot/srv/boot/grub/grub.cfg-01-52-54-00-4e-4c-83").read_text()
    assert " pvmdisk=/dev/mapper/mpatha \\\n" in grub and "initrd /export/novalink-clients/nova0696013/" in grub
    assert any(v["url"].endswith("initrd-bootdev.gz") for v in out["verified"])
    again = prepare_novalink_install(prepare_params(netboot_lab, [npiv], media=media))
    assert again["changed"] == []
    removed = _remove(netboot_lab, [npiv])["removed"]
    assert str(patched) in removed and not patched.exists()


def test_password_never_in_flow_logs_or_artifacts(netboot_lab):
    import asyncio

    from prefect.client.orchestration import get_client

    from flows.prepare_novalink_install import prepare_novalink_install

    prepare_novalink_install(prepare_params(netboot_lab, [partition()]))

    async def collect() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(limit=200)
            artifacts = await client.read_artifacts(limit=200)
        return [str(x.message) for x in logs] + [str(a.data) for a in artifacts]

    texts = asyncio.run(collect())
    assert len(texts) > 5
    assert not [t for t in texts if ADMIN_PASSWORD in t]


def test_verification_refuses_an_http_server_without_range(netboot_lab):
    """python3 -m http.server ignores Range: GRUB would load the kernel shifted; the verification says so."""
    import hashlib
    import subprocess
    import sys
    import time

    import httpx

    import lab.netboot as nb
    from core.novalink.errors import VerificationFailed
    from lab import netns
    from tasks.novalink import fetch_http

    srv = Path(netboot_lab["state"]) / "netboot/srv"
    kernel = srv / "export/novalink/novalink-lab/install/vmlinux"
    proc = subprocess.Popen(netns.exec_argv(nb.INST_NODE, [sys.executable, "-m", "http.server", "8081", "--bind",
                                                          nb.INST_IP, "--directory", str(srv)]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://{nb.INST_IP}:8081/export/novalink/novalink-lab/install/vmlinux"
        for _ in range(50):
            try:
                httpx.head(url, timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        sha = hashlib.sha256(kernel.read_bytes()).hexdigest()
        with pytest.raises(VerificationFailed, match="ignores Range"):
            fetch_http.fn(url, sha, check_range=True)
        ok = fetch_http.fn(f"http://{nb.INST_IP}/export/novalink/novalink-lab/install/vmlinux", sha, check_range=True)
        assert "206" in ok.detail
    finally:
        proc.terminate()
        proc.wait(timeout=10)
