"""Figures for the PowerVC area against the lab's real OpenStack: lab up (idempotent), plan, apply+verify,
re-plan and drift of isolate-tenant, one group-snapshot cycle. Prints figures; asserts nothing.

Needs root and a Prefect API (PREFECT_API_URL); run: .venv/bin/python benchmarks/powervc_isolation.py
"""

from __future__ import annotations

import time
import uuid


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.monotonic()
    value = fn()
    print(f"{label:<45} {time.monotonic() - t:7.1f} s", flush=True)
    return value


def main() -> None:
    from prefect.blocks.system import Secret

    import lab.openstack as component
    from core.powervc.isolation import without_tenant
    from flows.isolate_tenant import IsolateTenantParams, isolate_tenant
    from lab.context import LabContext
    from seams.openstack import request
    from tasks.powervc import _aggregates, admin_conn

    lab = LabContext()
    timed("lab up (idempotent)", lambda: component.up(lab))
    block = component.register_blocks(lab)[0]
    Secret(value=f"Bench-{uuid.uuid4().hex}").save("powervc-bench-password", overwrite=True)
    project = f"hbb{uuid.uuid4().hex[:5]}"
    base = dict(cloud_block=block, project=project, user=f"{project}_admin",
                password_secret_block="powervc-bench-password", aggregates=["hb01_mn"],
                allowed_volume_types=["svc1 base template"])
    try:
        timed("isolate-tenant plan", lambda: isolate_tenant(IsolateTenantParams(**base, mode="plan")))
        r = timed("isolate-tenant apply + verify (2 probes)",
                  lambda: isolate_tenant(IsolateTenantParams(**base, mode="apply")))
        print(f"  checks passed: {sum(x['result'] == 'PASS' for x in r['verified'])}/{len(r['verified'])}")
        timed("isolate-tenant re-run plan (plans nothing)",
              lambda: isolate_tenant(IsolateTenantParams(**base, mode="plan")))
        timed("isolate-tenant drift check", lambda: isolate_tenant(IsolateTenantParams(**base, mode="drift")))
    finally:
        conn = admin_conn(component.lab_block(lab))
        p = conn.identity.find_project(project, ignore_missing=True)
        if p is not None:
            for agg in _aggregates(conn):
                change = without_tenant(agg.metadata, p.id)
                if change:
                    request(conn, "compute", "POST", f"/os-aggregates/{agg.id}/action", "untag",
                            json={"set_metadata": {"metadata": change}})
            u = conn.identity.find_user(f"{project}_admin", ignore_missing=True)
            if u is not None:
                conn.identity.delete_user(u)
            conn.identity.delete_project(p)


if __name__ == "__main__":
    main()
