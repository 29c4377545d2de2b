"""Lab fixtures of the swarm area: lab Docker hosts + lb1 up, blocks written, a whoami test image in the lab
registry; the swarm is taken apart at the end so the other areas find the hosts as they were."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

BASE = "powerops/debian:bookworm"
TEST_TAG = "powerops/whoami:swarm-test"


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    for tool in ("dockerd", "haproxy", "sshd", "ip", "debootstrap"):
        if not (shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}")):
            return f"{tool} is not installed (scripts/packages/swarm.txt)"
    return None


@pytest.fixture(scope="session")
def swarm_lab(prefect_server) -> Iterator[dict[str, object]]:
    from lab import docker_hosts, swarm
    from lab.context import LabContext

    reason = _why_not()
    if reason:
        pytest.fail(reason)
    lab = LabContext()
    docker_hosts.up(lab)
    swarm.up(lab)
    docker_hosts.register_blocks(lab)
    swarm.register_blocks(lab)
    before = swarm.swarm_states(lab)
    if any(s != "inactive" for s in before.values()):
        swarm.reset_swarm(lab)  # a previous run was interrupted: the swarm lab's own nodes start clean
    try:
        yield {"lab": lab, "image": _test_image(lab)}
    finally:
        swarm.reset_swarm(lab)


def _test_image(lab) -> str:
    """The whoami recipe under a test tag, pushed to the lab registry (the demo's, stood up idempotently)."""
    from flows.build_app_image import AppImageParams, build_app_image_flow
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.stand_up_registry import RegistryParams, stand_up_registry
    from lab.demo import ensure_demo_secret

    secret = ensure_demo_secret(lab)
    for host in ("lab-dock1", "lab-sw1"):  # the registry's host, and where the haproxy image is built
        build_base_image(BaseImageParams(build_host="lab-build", target_host=host, tag=BASE))
    stand_up_registry(RegistryParams(registry_host="lab-dock1", password_secret=secret, base_image=BASE,
                                     trust_hosts=["lab-dock2", "lab-dock3", "lab-sw1", "lab-sw2", "lab-sw3"],
                                     save_block_as="lab-registry"))
    out = build_app_image_flow(AppImageParams(app="whoami", base_image=BASE, build_host="lab-build",
                                              target_host="lab-dock1", tag=TEST_TAG, push_to="lab-registry"))
    return str(out["pushed"]).split("@", 1)[0]
