"""The bootptab entry the prepare flow writes, proven by a real BOOTP exchange with Debian's bootpd (CMU
bootpd 2.4.3): a request carrying the partition's MAC gets the partition's address, the install server as
``siaddr`` and the absolute boot file; after removal the same request gets no answer."""

from __future__ import annotations

import pytest

from tests.lab.novalink.conftest import partition, prepare_params

pytestmark = pytest.mark.lab

MAC = "52:54:00:4e:4c:82"
IP = "10.250.77.82"
NAME = "nova0696011"


@pytest.fixture(scope="module")
def bootpd_lab(netboot_lab):
    import shutil

    from lab.context import LabContext
    from lab.netboot import bootpd

    if not shutil.which("bootpd") and not shutil.which("/usr/sbin/bootpd"):
        pytest.fail("bootpd is not installed (Debian package bootp, scripts/packages/novalink.txt)")
    lab = LabContext()
    bootpd.up(lab)
    bootpd.register_blocks(lab)
    return {**netboot_lab, "server": bootpd.BLOCK}


def _remove(lab):
    import lab.netboot as nb
    from core.novalink.model import ClientRef, InstallMedia
    from flows.prepare_novalink_install import RemoveNovaLinkParams, remove_novalink_install

    return remove_novalink_install(RemoveNovaLinkParams(
        install_server=lab["server"], media=InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer"),
        partitions=[ClientRef(partition_name=NAME, mac=MAC)], confirm=True))


def test_bootptab_entry_answers_a_real_bootp_request(bootpd_lab):
    import lab.netboot as nb
    from core.novalink.bootp import parse_reply
    from flows.prepare_novalink_install import prepare_novalink_install
    from lab.context import LabContext
    from lab.netboot import bootpd

    lab = LabContext()
    part = partition(partition_name=NAME, mac=MAC, ip=IP)
    _remove(bootpd_lab)
    with pytest.raises(RuntimeError, match="no BOOTP reply"):
        bootpd.probe(MAC, IP, timeout=6)  # unknown to bootpd before the flow

    prepare_novalink_install(prepare_params(bootpd_lab, [part]))
    line = next(ln for ln in bootpd.bootptab(lab).read_text().splitlines() if ln.startswith(f"{NAME}:"))
    assert f":ha={MAC.replace(':', '').upper()}:" in line

    reply = parse_reply(bootpd.probe(MAC, IP))
    srv = nb.Dirs(lab.state_dir / "netboot").srv
    assert (reply.chaddr, reply.yiaddr, reply.siaddr) == (MAC, IP, nb.INST_IP)
    assert reply.file == f"{srv}/boot/grub/powerpc-ieee1275/core.elf"
    assert reply.subnet_mask == "255.255.255.0" and reply.routers == ["10.250.77.1"]
    assert f"found {IP} ({NAME})" in bootpd.log(lab).read_text()

    _remove(bootpd_lab)
    assert not any(ln.startswith(f"{NAME}:") for ln in bootpd.bootptab(lab).read_text().splitlines())
    with pytest.raises(RuntimeError, match="no BOOTP reply"):
        bootpd.probe(MAC, IP, timeout=6)
