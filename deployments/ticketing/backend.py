"""The ticket service's one seam to Prefect: create/read/resume flow runs (a fake implements it in unit tests)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID


@dataclass
class RunInfo:
    id: str
    name: str
    state: str            # state name: Scheduled, Pending, Running, Paused, Completed, Failed, ...
    state_type: str       # SCHEDULED, PENDING, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED, CRASHED
    message: str | None
    final: bool
    created: dt.datetime
    parameters: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    async def create_run(self, deployment: str, parameters: dict[str, Any], idempotency_key: str,
                         tags: list[str]) -> RunInfo: ...
    async def read_run(self, run_id: str) -> RunInfo: ...
    async def find_ticket_run(self, ticket_id: str) -> RunInfo | None: ...
    async def open_ticket_runs(self) -> list[RunInfo]: ...
    async def resume(self, run_id: str, run_input: dict[str, Any]) -> str: ...
    async def approvers(self) -> list[str]: ...
    async def summary_markdown(self, run_id: str) -> str | None: ...
    async def close(self) -> None: ...


def _info(r: Any) -> RunInfo:
    st = r.state
    return RunInfo(id=str(r.id), name=r.name, state=st.name if st else "Unknown",
                   state_type=st.type.value if st else "UNKNOWN", message=st.message if st else None,
                   final=bool(st and st.is_final()), created=r.created, parameters=dict(r.parameters or {}))


class PrefectBackend:
    """Talks to the Prefect API with one long-lived async client (retries 503 'database is locked')."""

    def __init__(self) -> None:
        from prefect.client.orchestration import get_client

        self._client = get_client()
        self._entered = False
        self._deployments: dict[str, UUID] = {}
        self._lock = asyncio.Lock()

    async def _c(self) -> Any:
        if not self._entered:
            async with self._lock:
                if not self._entered:
                    await self._client.__aenter__()
                    self._entered = True
        return self._client

    async def _deployment_id(self, deployment: str) -> UUID:
        if deployment not in self._deployments:
            c = await self._c()
            d = await c.read_deployment_by_name(deployment)
            self._deployments[deployment] = d.id
        return self._deployments[deployment]

    async def create_run(self, deployment: str, parameters: dict[str, Any], idempotency_key: str,
                         tags: list[str]) -> RunInfo:
        """One API round trip (the deployment id is cached). The service has already validated ``parameters``
        against the flow's pydantic model (stricter: unknown fields refused), and the run validates them again
        when it starts, so the server's JSON-schema check of the same parameters is skipped for ticket runs
        (``enforce_parameter_schema=False`` on this run only): it costs 10-20 ms of server CPU per ticket on a
        loaded 2-core machine. Runs started from the UI keep the deployment's enforcement."""
        from prefect.client.schemas.actions import DeploymentFlowRunCreate
        from prefect.client.schemas.objects import FlowRun
        from prefect.states import Scheduled, to_state_create

        c = await self._c()
        dep_id = await self._deployment_id(deployment)
        body = DeploymentFlowRunCreate(parameters=parameters, state=to_state_create(Scheduled()), tags=list(tags),
                                       idempotency_key=idempotency_key, enforce_parameter_schema=False)
        response = await c.request("POST", "/deployments/{id}/create_flow_run", path_params={"id": dep_id},
                                   json=body.model_dump(mode="json", exclude_unset=True))
        return _info(FlowRun.model_validate(response.json()))

    async def read_run(self, run_id: str) -> RunInfo:
        c = await self._c()
        return _info(await c.read_flow_run(UUID(run_id)))

    async def find_ticket_run(self, ticket_id: str) -> RunInfo | None:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        c = await self._c()
        runs = await c.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[f"ticket:{ticket_id}"])), limit=1)
        return _info(runs[0]) if runs else None

    async def open_ticket_runs(self) -> list[RunInfo]:
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.objects import StateType

        c = await self._c()
        open_types = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]
        runs = await c.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=["ticket"]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=open_types))), limit=500)
        return [_info(r) for r in runs]

    async def resume(self, run_id: str, run_input: dict[str, Any]) -> str:
        c = await self._c()
        res = await c.resume_flow_run(UUID(run_id), run_input=run_input)
        details = getattr(res.details, "reason", None) or ""
        return f"{res.status.value}{': ' + details if details else ''}"

    async def approvers(self) -> list[str]:
        import json

        c = await self._c()
        v = await c.read_variable_by_name("powerops_approvers")
        value = v.value if v else None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = [x.strip() for x in value.split(",")]
        return [str(x) for x in value] if isinstance(value, list) else []

    async def summary_markdown(self, run_id: str) -> str | None:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        c = await self._c()
        arts = await c.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]),
            key=ArtifactFilterKey(any_=["run-summary"])), limit=1)
        return str(arts[0].data) if arts else None

    async def close(self) -> None:
        if self._entered:
            await self._client.__aexit__(None, None, None)
            self._entered = False
