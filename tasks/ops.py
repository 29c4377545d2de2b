"""Thin tasks over the Prefect API used by the operations flows (read run history, lock-holder records)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_recent_runs(since: dt.datetime) -> list[dict[str, Any]]:
    with get_client(sync_client=True) as client:
        runs: list[Any] = []
        while True:   # the API returns at most 200 per page
            page = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(after_=since)), limit=200, offset=len(runs))
            runs += page
            if len(page) < 200 or len(runs) >= 10000:
                break
        names: dict[Any, str] = {}
        out = []
        for r in runs:
            if r.deployment_id and r.deployment_id not in names:
                try:
                    names[r.deployment_id] = client.read_deployment(r.deployment_id).name
                except Exception:  # noqa: BLE001 - a deleted deployment
                    names[r.deployment_id] = str(r.deployment_id)
            out.append({"id": str(r.id), "name": r.name, "state": r.state.name if r.state else "?",
                        "deployment": names.get(r.deployment_id, "(no deployment)") if r.deployment_id
                        else "(no deployment)"})
    return out


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_lock_records() -> list[dict[str, Any]]:
    """Every lock-holder record with the state of its run: running | ended | missing."""
    from uuid import UUID

    out = []
    with get_client(sync_client=True) as client:
        variables = client.read_variables(limit=200)
        for v in variables:
            if not v.name.startswith("powerops_lock_") or not isinstance(v.value, dict):
                continue
            rec = dict(v.value)
            state = "missing"
            try:
                fr = client.read_flow_run(UUID(str(rec.get("flow_run_id"))))
                state = "ended" if fr.state and fr.state.is_final() else "running"
            except Exception:  # noqa: BLE001 - no such run
                state = "missing"
            out.append({"variable": v.name, "key": rec.get("key", "?"),
                        "flow_run_name": rec.get("flow_run_name", "?"), "run_state": state})
    return out


@task(cache_policy=NO_CACHE)
def remove_lock_record(variable: str) -> None:
    with get_client(sync_client=True) as client:
        client.delete_variable_by_name(variable)
