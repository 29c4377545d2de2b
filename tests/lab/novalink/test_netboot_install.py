"""novalink-netboot-install against the lab: the simulated HMC's lpar_netboot starts the emulated POWER
partition (qemu-system-ppc64 pseries, SLOF, spapr-vlan) which really netboots from the lab install server.

Slow (each boot costs 1-3 minutes of qemu CPU): the flow's own deadline is the watchdog, and fatal signs
(firmware exception, GRUB error, HTTP 404) fail at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.novalink.conftest import ADMIN_PASSWORD, partition, prepare_params

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _run(lab, parts, goal="config_fetched", deadline=600.0, hmc=True, **prep):
    from flows.novalink_netboot_install import NovaLinkNetbootParams, novalink_netboot_install

    return novalink_netboot_install(NovaLinkNetbootParams(
        prepare=prepare_params(lab, parts, **prep), hmc=lab["hmc"] if hmc else None, goal=goal,
        deadline_s=deadline))


@pytest.fixture(autouse=True)
def _stop_partition(netboot_lab):
    import lab.netboot as nb
    from lab.context import LabContext

    yield
    nb.stop_partition(LabContext(state_dir=Path(netboot_lab["state"])))


@pytest.mark.timeout(900)
def test_netboot_reaches_the_installer_fetching_its_rendered_config(netboot_lab):
    out = _run(netboot_lab, [partition()])
    timeline = dict(out["timelines"]["nova0696010"])
    for milestone in ("bootp answered", "boot file sent", "grub.cfg read", "kernel fetched", "initrd fetched",
                      "installer started", "installer config fetched"):
        assert timeline[milestone] is not None, (milestone, timeline)
    assert timeline["bootp answered"] <= timeline["kernel fetched"] <= timeline["installer config fetched"]
    # the installer got the rendered command line (console) and the hash, never the clear password
    console = (Path(netboot_lab["state"]) / "netboot/console/nova0696010.log").read_text(errors="replace")
    assert "netcfg/get_ipaddress=10.250.77.80" in console
    assert ADMIN_PASSWORD not in console
    access = (Path(netboot_lab["state"]) / "netboot/logs/access.log").read_text()
    assert '"GET /export/novalink-clients/nova0696010/preseed.cfg HTTP/1.1" 200' in access


@pytest.mark.timeout(600)
def test_missing_kernel_fails_fast_after_grub_cfg(netboot_lab):
    import lab.netboot as nb
    from core.novalink.errors import InstallMilestoneFailed
    from core.novalink.model import InstallMedia

    media = InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer", kernel="install/vmlinux-missing")
    with pytest.raises(InstallMilestoneFailed) as err:
        _run(netboot_lab, [partition()], deadline=400.0, media=media, verify=False)
    msg = str(err.value)
    assert "HTTP 404" in msg and "vmlinux-missing" in msg, msg
    assert "last milestone reached: grub.cfg read" in msg, msg


@pytest.mark.timeout(300)
def test_wrong_mac_is_refused_by_the_hmc(netboot_lab):
    from core.novalink.errors import NetbootRefused
    from tests.lab.novalink.test_prepare_novalink import _remove

    wrong = partition(mac="52:54:00:4e:4c:99")
    try:
        with pytest.raises(NetbootRefused) as err:
            _run(netboot_lab, [wrong], deadline=60.0, verify=False)
    finally:
        _remove(netboot_lab, [wrong])
    assert "can not find mac address 5254004E4C99" in str(err.value)


@pytest.mark.timeout(400)
def test_wrong_mac_fails_with_no_bootp_answer(netboot_lab):
    """The HMC does not know the MAC (no check possible): the boot server sees an unknown MAC and says so."""
    import lab.netboot as nb
    from core.novalink.errors import InstallMilestoneFailed
    from lab import hmc_sim
    from lab.context import LabContext

    lab = LabContext(state_dir=Path(netboot_lab["state"]))
    name = "nova0696012"
    hmc_sim.add_partition(lab, hmc_sim.SYSTEM, name, 21, env="aixlinux", profile="default_profile")
    # this LPAR's firmware boots with the lab NIC's real MAC; the flow is given another one
    spec = nb.hmc_netboot_file(lab, name)
    spec.write_text(nb.hmc_netboot_file(lab).read_text().replace(f"{nb.LPAR_NAME}.log", f"{name}.log"))
    try:
        with pytest.raises(InstallMilestoneFailed) as err:
            _run(netboot_lab, [partition(partition_name=name, mac="52:54:00:4e:4c:98", ip="10.250.77.82")],
                 deadline=90.0, verify=False)
    finally:
        from tests.lab.novalink.test_prepare_novalink import _remove

        spec.unlink(missing_ok=True)
        hmc_sim.remove_partition(lab, hmc_sim.SYSTEM, name)
        _remove(netboot_lab, [partition(partition_name=name, mac="52:54:00:4e:4c:98", ip="10.250.77.82")])
    msg = str(err.value)
    assert "last milestone reached: none" in msg, msg
    assert nb.LPAR_MAC in msg and "check the partition's MAC" in msg, msg
