"""Thin Prefect tasks for Virtual I/O Servers (padmin commands, root commands through oem_setup_env) and the
AIX client's error log."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.hmc import ViosHost
from blocks.ssh import SshTarget
from core.errors import CommandFailed, HostUnreachable
from core.hmc import commands as C
from core.hmc import parsers as P
from core.hmc.models import ErrptEntry, IosLevel, ViosDevice, VnicMapping, VnicStat

# lsmap returns these when there is nothing of the asked kind to list (ansible-power-vios mapping_facts)
LSMAP_EMPTY_RC = (10, 88)


def _root(vios: ViosHost, argv: list[str]) -> str:
    return vios.connect().run(["oem_setup_env"], stdin=C.root_script(argv), timeout=120).stdout


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_ioslevel(vios: ViosHost) -> IosLevel:
    return P.parse_ioslevel(vios.connect().run(C.ioslevel(), timeout=60).stdout)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_vios_adapters(vios: ViosHost) -> list[ViosDevice]:
    return P.parse_lsdev_fmt(vios.connect().run(C.lsdev_adapters(), timeout=60).stdout)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_vnic_mappings(vios: ViosHost) -> list[VnicMapping]:
    res = vios.connect().run(C.lsmap_vnic(), check=False, timeout=60)
    if res.exited in LSMAP_EMPTY_RC and not res.stdout.strip():
        return []
    if res.exited != 0:
        raise CommandFailed(vios.host, res.command, res.exited, res.stderr)
    return P.parse_lsmap_vnic_fmt(res.stdout)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_vnicstat(vios: ViosHost, server: str) -> VnicStat:
    return P.parse_vnicstat(_root(vios, C.vnicstat(server)))


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def read_vios_errpt(vios: ViosHost) -> list[ErrptEntry]:
    return P.parse_errpt(_root(vios, C.errpt_summary()))


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def read_client_errpt(client: SshTarget) -> list[ErrptEntry]:
    return P.parse_errpt(client.connect().run(C.errpt_summary(), timeout=60).stdout)


@task(cache_policy=NO_CACHE)
def shutdown_vios(vios: ViosHost) -> str:
    """``shutdown -force`` on the VIOS; the session may drop as the partition goes down (that is success)."""
    try:
        vios.connect().run(C.vios_shutdown(), timeout=20)
    except (HostUnreachable, CommandFailed) as exc:
        if isinstance(exc, CommandFailed) and exc.exited not in (-1, 255):
            raise
        return "session dropped while shutting down"
    return "shutdown -force accepted"
