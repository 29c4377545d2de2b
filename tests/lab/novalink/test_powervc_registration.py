"""PowerVC registration step of novalink-post-install against the lab's real Nova (issue 9's OpenStack).

What runs for real: the "already registered?" facts (``GET /os-hypervisors/detail``, microversion 2.53) and
the plan. The lab's Nova has no IBM ``POST /os-hosts`` registration API, so a host it does not list gets the
real 404 of a non-PowerVC cloud, which the flow must turn into a clear error; the successful POST is covered
by unit tests on the documented request/response shapes (tests/unit/novalink/test_powervc_registration.py).
"""

from __future__ import annotations

import pytest

from tests.lab.novalink.conftest import partition

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def powervc_block(netboot_lab) -> str:
    import lab.netboot as nb
    import lab.openstack as openstack
    from flows.novalink_post_install import (
        NovaLinkPostInstallParams,
        PostInstallParams,
        novalink_post_install,
    )
    from lab.context import LabContext
    from lab.netboot import novalink_host

    lab = LabContext()
    # the host as the post-install leaves it (packages, pvm-backup crontab): ~15 s from a fresh userland
    novalink_host.reset_host_root(lab)
    novalink_host.ensure_host(lab)
    novalink_post_install(NovaLinkPostInstallParams(
        partitions=[partition(ip=novalink_host.HOST_IP)],
        post_install=PostInstallParams(novalink_ssh={nb.LPAR_NAME: novalink_host.BLOCK_HOST_SSH},
                                       mirror_url=novalink_host.mirror_url(nb.INST_IP),
                                       rsct_key=novalink_host.RSCT_KEY)))
    openstack.up(lab)  # idempotent; the PowerVC tests of the same session reuse it
    return openstack.register_blocks(lab)[0]


def _params(powervc_block: str, part, dry_run: bool = False):
    from flows.novalink_post_install import (
        NovaLinkPostInstallParams,
        PostInstallParams,
        PowerVCRegistrationParams,
    )
    from lab.netboot import novalink_host

    pp = PostInstallParams(novalink_ssh={part.partition_name: novalink_host.BLOCK_HOST_SSH}, mirror_url="",
                           packages=[])
    return NovaLinkPostInstallParams(partitions=[part], post_install=pp, dry_run=dry_run,
                                     powervc=PowerVCRegistrationParams(powervc=powervc_block))


def test_host_powervc_already_lists_is_left_alone(powervc_block):
    """The lab cloud lists hypervisor 9119MME_0696010: NovaLink nova0696010 (serial 0696010) is registered."""
    from flows.novalink_post_install import novalink_post_install
    from lab.netboot import novalink_host

    part = partition(ip=novalink_host.HOST_IP)
    res = novalink_post_install(_params(powervc_block, part))[part.partition_name]
    assert res["powervc"].startswith("already registered as 9119MME_0696010")


def test_unregistered_host_is_planned_then_refused_by_a_cloud_without_the_api(powervc_block):
    from core.powervc.errors import ApiNotFound
    from flows.novalink_post_install import novalink_post_install
    from lab.netboot import novalink_host

    part = partition(partition_name="nova1234567", ip=novalink_host.HOST_IP)
    dry = novalink_post_install(_params(powervc_block, part, dry_run=True))[part.partition_name]
    assert dry["powervc"] == f"would register nova1234567 ({novalink_host.HOST_IP})"
    with pytest.raises(ApiNotFound) as err:
        novalink_post_install(_params(powervc_block, part))
    assert "no PowerVC host-registration API" in str(err.value)
