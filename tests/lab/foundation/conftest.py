"""Lab fixtures of the foundation: the lab's Docker hosts up, their blocks in the test server, known secrets."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

REGISTRY_PASSWORD = "lab-test-Pw-8c1f3b2a"  # a known value the leak test searches for


def _can_run_lab() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    for tool in ("dockerd", "debootstrap", "ip", "sshd", "docker-registry"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}") and not os.path.exists(f"/usr/bin/{tool}"):
            return f"{tool} is not installed (run scripts/bootstrap.sh)"
    return None


@pytest.fixture(scope="session")
def lab_ctx():
    from lab.context import LabContext

    reason = _can_run_lab()
    if reason:
        pytest.fail(reason)  # never skip silently: the lab tier is part of the test command
    return LabContext()


@pytest.fixture(scope="session")
def docker_lab(lab_ctx, prefect_server) -> Iterator[dict[str, str]]:
    """Lab Docker hosts up (idempotent) and their blocks written to this session's server."""
    from prefect.blocks.system import Secret

    from lab import docker_hosts
    from lab.cli import lab_blocks

    docker_hosts.up(lab_ctx)
    lab_blocks(lab_ctx, ["lab.docker_hosts"])
    Secret(value=REGISTRY_PASSWORD).save("test-registry-password", overwrite=True)
    yield {"password_secret": "test-registry-password"}
