"""fleet-reachability: fan-out over many hosts (TCP connect to each host:port), on threads or on Dask.

The scale-out pattern for "the same check on hundreds of hosts": one task per host, mapped; with
``runner="dask"`` the tasks run on a Dask cluster (prefect-dask): a local one with ``dask_workers`` processes
by default, or an existing scheduler at ``dask_address`` (tcp://scheduler:8786) shared by several machines.
Changes nothing.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from core.names import split_host_port


class FleetParams(BaseModel):
    """Which endpoints to probe, and where the fan-out runs."""

    endpoints: list[str] = Field(min_length=1, description="host:port of every endpoint to probe (e.g. every "
                                 "HMC's 22, every VIOS's 22, every registry's 5000).")
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="TCP connect timeout per endpoint.")
    runner: Literal["threads", "dask"] = Field(default="threads", description="threads (one machine) or dask.")
    dask_workers: int = Field(default=2, ge=1, le=64, description="Local Dask worker processes (runner=dask).")
    dask_address: str | None = Field(default=None, description="An existing Dask scheduler (tcp://host:8786) "
                                     "instead of a local cluster.")


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1)
def probe_endpoint(endpoint: str, timeout_s: float) -> dict[str, Any]:
    host, port = split_host_port(endpoint, 22)
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            ok, detail = True, "open"
    except OSError as exc:
        ok, detail = False, exc.strerror or type(exc).__name__
    return {"endpoint": endpoint, "reachable": ok, "detail": detail,
            "ms": round((time.monotonic() - t0) * 1000, 1), "worker": socket.gethostname()}


def _runner(p: FleetParams) -> Any:
    if p.runner == "dask":
        from prefect_dask import DaskTaskRunner

        if p.dask_address:
            return DaskTaskRunner(address=p.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": p.dask_workers, "threads_per_worker": 4,
                                              "processes": True, "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=32)


@flow(name="fleet-probe", log_prints=False)
def _probe_all(params: FleetParams) -> list[dict[str, Any]]:
    futures = probe_endpoint.map(params.endpoints, params.timeout_s)
    return [f.result() for f in futures]


@flow(name="fleet-reachability", log_prints=False)
def fleet_reachability(params: FleetParams) -> dict[str, Any]:
    logger = get_run_logger()
    t0 = time.monotonic()
    rows = _probe_all.with_options(task_runner=_runner(params))(params)
    up = [r for r in rows if r["reachable"]]
    create_table_artifact(key="fleet-reachability", table=rows,
                          description=f"{len(up)}/{len(rows)} endpoints reachable ({params.runner})")
    seconds = round(time.monotonic() - t0, 2)
    logger.info("%d/%d endpoints reachable in %.1f s on %s", len(up), len(rows), seconds, params.runner)
    return {"verified": [f"{r['endpoint']}: {r['detail']}" for r in rows], "reachable": len(up),
            "unreachable": len(rows) - len(up), "seconds": seconds, "runner": params.runner}
