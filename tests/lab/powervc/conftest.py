"""Lab fixtures for the PowerVC area: the real OpenStack stack is brought up once per session (idempotent
``up``: ~4 s when it already runs, 1.5-6 min from nothing) and left running; test objects are removed."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.lab


@dataclass
class PowerVCLab:
    block: str
    secret_block: str
    password: str
    cloud: object  # blocks.powervc.PowerVC

    def admin(self):  # type: ignore[no-untyped-def]
        from tasks.powervc import admin_conn

        return admin_conn(self.cloud)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def powervc_lab(prefect_server: str) -> Iterator[PowerVCLab]:
    from prefect.blocks.system import Secret

    import lab.openstack as component
    from lab.context import LabContext

    lab = LabContext()
    component.up(lab)
    names = component.register_blocks(lab)
    password = secrets.token_urlsafe(16) + "aA1!"
    secret_block = "powervc-test-tenant-password"
    Secret(value=password).save(secret_block, overwrite=True)
    yield PowerVCLab(names[0], secret_block, password, component.lab_block(lab))


@pytest.fixture()
def tenant_names(powervc_lab: PowerVCLab) -> Iterator[list[str]]:
    """Unique project names for a test; the projects, their users and their host-group tags are removed."""
    made: list[str] = []

    def cleanup() -> None:
        from core.powervc.isolation import without_tenant
        from seams.openstack import request
        from tasks.powervc import _aggregates

        conn = powervc_lab.admin()
        for name in made:
            project = conn.identity.find_project(name, domain_id="default", ignore_missing=True)
            if project is None:
                continue
            for agg in _aggregates(conn):
                change = without_tenant(agg.metadata, project.id)
                if change:
                    request(conn, "compute", "POST", f"/os-aggregates/{agg.id}/action", "untag",
                            json={"set_metadata": {"metadata": change}})
            user = conn.identity.find_user(f"{name}_admin", domain_id="default", ignore_missing=True)
            if user is not None:
                conn.identity.delete_user(user)
            conn.identity.delete_project(project)

    class Names(list[str]):
        def new(self) -> str:
            name = f"hbt{uuid.uuid4().hex[:6]}"
            made.append(name)
            return name

    yield Names()
    cleanup()
