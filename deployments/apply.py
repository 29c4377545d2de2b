"""Create/update the work pool and every deployment of the registry through the Prefect API.

This is what ``prefect --no-prompt deploy --all`` does with prefect.yaml (same names, entrypoints, schedules,
pull step), in one process, without importing every flow module per deployment. ``python -m deployments``
renders prefect.yaml from the same registry.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from typing import Any

from deployments.registry import REPO, WORK_POOL, Procedure, procedures


def pull_steps(repo: str | None = None) -> list[dict[str, Any]]:
    return [{"prefect.deployments.steps.set_working_directory": {"directory": repo or str(REPO)}}]


def engine_command() -> str | None:
    """The flow-run command of the process worker: this interpreter's ``-m prefect.engine``.

    Without a command, Prefect 3.9's process worker starts a workspace supervisor process that prepares the
    workspace and then execs the engine: two interpreter start-ups, each importing prefect (3-4 s apiece on a
    loaded 2-core machine), before the run is Running. With the command set, the worker starts the engine
    directly and the engine runs the pull step itself (measured: ticket -> Running 8.3 s -> see
    docs/ticketing.md "Latency"). The deploying machine's interpreter must exist on the workers (true for
    the lab, the demo and CI; a site deploying from elsewhere sets POWEROPS_ENGINE_COMMAND, or "" to keep
    Prefect's default)."""
    configured = os.environ.get("POWEROPS_ENGINE_COMMAND")
    if configured is not None:
        return configured or None
    return f"{shlex.quote(sys.executable)} -m prefect.engine"


def ensure_work_pool(name: str = WORK_POOL, concurrency: int | None = None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process", concurrency_limit=concurrency,
                                                   description="powerops: flows run as local processes"))


def deploy(proc: Procedure, pool: str = WORK_POOL, repo: str | None = None) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.utilities.callables import parameter_schema

    from deployments.ops_flows import build

    fl = build(proc.name)
    schema = parameter_schema(fl).model_dump_for_openapi()
    schedules = [DeploymentScheduleCreate(schedule=CronSchedule(cron=s.cron, timezone=s.timezone),
                                          active=s.active, parameters={"params": s.parameters} if s.parameters else {},
                                          slug=f"{proc.name}-{i}")
                 for i, s in enumerate(proc.schedules)]
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(fl.name)
        dep_id = client.create_deployment(
            flow_id=flow_id, name=proc.name, description=proc.description, work_pool_name=pool,
            entrypoint=proc.entrypoint, path=repo or str(REPO), pull_steps=pull_steps(repo),
            parameter_openapi_schema=schema, parameters=proc.parameters,
            tags=["powerops", *proc.tags], schedules=schedules, enforce_parameter_schema=True,
            job_variables={"command": cmd} if (cmd := engine_command()) else None)
    return str(dep_id)


def deploy_all(pool: str = WORK_POOL, repo: str | None = None) -> dict[str, str]:
    """Deploy every procedure; returns {"ops-<flow>/<deployment>": deployment id}."""
    ensure_work_pool(pool)
    out: dict[str, str] = {}
    t0 = time.monotonic()
    for proc in procedures().values():
        out[f"ops-{proc.name}/{proc.name}"] = deploy(proc, pool, repo)
    out["_seconds"] = f"{time.monotonic() - t0:.1f}"
    return out
