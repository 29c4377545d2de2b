"""Lab fixtures of the NovaLink network install: the netboot lab (install server, partition network, media)
and the simulated HMC up, their blocks in this session's Prefect server, a known admin password."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

ADMIN_PASSWORD = "lab-NovaLink-Pw-5d2e9a71"  # a known value the leak tests search for
SECRET_BLOCK = "lab-novalink-admin-password"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    for tool in ("qemu-system-ppc64", "dnsmasq", "nginx", "grub-mkimage", "powerpc-linux-gnu-gcc", "sshd"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed (scripts/packages/novalink.txt)"
    return None


@pytest.fixture(scope="session")
def netboot_lab(prefect_server) -> Iterator[dict[str, str]]:
    from prefect.blocks.system import Secret

    import lab.netboot as nb
    from lab import hmc_sim
    from lab.context import LabContext

    reason = _missing()
    if reason:
        pytest.fail(reason)  # never skip silently
    lab = LabContext()
    hmc_sim.up(lab)
    nb.up(lab)
    names = nb.register_blocks(lab) + hmc_sim.register_blocks(lab)
    Secret(value=ADMIN_PASSWORD).save(SECRET_BLOCK, overwrite=True)
    yield {"server": nb.BLOCK_SERVER, "hmc": nb.hmc_block_name(), "secret": SECRET_BLOCK,
           "state": str(lab.state_dir), "blocks": ",".join(names)}
    nb.stop_partition(lab)


def partition(**over: object):
    import lab.netboot as nb
    from core.novalink.model import NovaLinkPartition

    values: dict[str, object] = dict(
        partition_name=nb.LPAR_NAME, managed_system=nb.managed_system(), mac=nb.LPAR_MAC, ip=nb.LPAR_IP,
        gateway="10.250.77.1", netmask="255.255.255.0", dns=[nb.INST_IP], domain="powerops.test",
        ntp=[nb.INST_IP], timezone="Europe/Paris")
    values.update(over)
    return NovaLinkPartition(**values)  # type: ignore[arg-type]


def prepare_params(lab: dict[str, str], partitions, **over: object):
    import lab.netboot as nb
    from core.novalink.model import InstallMedia
    from flows.prepare_novalink_install import PrepareNovaLinkParams

    media = over.pop("media", None) or InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer")
    return PrepareNovaLinkParams(
        install_server=lab["server"], media_source=str(nb.Dirs(nb.Path(lab["state"]) / "netboot").media_src),
        media=media, admin_password_secret=lab["secret"], partitions=partitions, **over)
