"""The wrapper flow of every deployment: ``ops-<procedure>(params: <the flow's model>, ops: OpsOptions)``.

Order: redaction on -> plan + approval (when the rule asks) -> per-target locks -> the flow as a sub-run ->
run summary (planned / changed / verified, numbers, ticket -> run -> sub-runs). The wrappers are built on
first access (module ``__getattr__``), so a flow run imports only its own flow's module.
"""

from __future__ import annotations

import contextlib
import time
from functools import cache
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel

from core.ops.summary import from_result
from deployments.models import OpsOptions
from deployments.registry import Procedure, procedures
from flows._ops import (
    approval_gate,
    child_runs,
    current_run,
    install_redaction,
    lock_keys,
    model_fields_markdown,
    publish_summary,
    run_url,
    target_lock,
)
from flows._sync import call_flow


def _plan_markdown(proc: Procedure, params: BaseModel, plan_result: Any) -> str:
    lines = [f"### {proc.name}", "", proc.description, "", model_fields_markdown(params)]
    if plan_result is not None:
        s = from_result(proc.name, "plan", plan_result)
        lines += ["", f"#### Planned changes ({len(s.planned)})", *[f"* {p}" for p in s.planned[:50]]]
        if not s.planned:
            lines.append("* the plan-only run reported nothing to change (see its artifacts)")
    return "\n".join(lines)


def run_operated(proc: Procedure, params: BaseModel, ops: OpsOptions) -> Any:
    install_redaction()
    logger = get_run_logger()
    t0 = time.monotonic()
    inner = proc.load_flow()
    approval_note = None
    keys = lock_keys(proc.locks, params)   # block-valued targets keyed by the endpoint they point at
    state = None
    try:
        reason = proc.approval.required(params)
        if reason:
            plan_result = None
            if proc.plan_overrides:
                plan_params = params.model_copy(update=proc.plan_overrides)
                plan_result = call_flow(inner.with_options(flow_run_name=f"{proc.name}-plan"), plan_params)
            approval_note = "pending"
            rec = approval_gate(_plan_markdown(proc, params, plan_result), ops.requester, reason)
            approval_note = f"{rec['outcome']} by {rec['approver']} at {rec['at']}" + (
                f" ({rec['comment']})" if rec.get("comment") else "")
        on_busy = ops.on_lock_busy or proc.on_lock_busy
        with target_lock(keys, on_busy=on_busy, wait_seconds=ops.lock_wait_seconds, ticket_id=ops.ticket_id):
            state = call_flow(inner, params, return_state=True)
    except Exception as exc:
        if approval_note == "pending":
            approval_note = f"not approved: {exc}"
        raise
    finally:
        outcome = state.name if state is not None else "not run"
        result = None
        if state is not None and state.is_completed():
            result = state.result(raise_on_failure=False)
        summary = from_result(proc.name, outcome, result)
        summary.ticket_id, summary.requester = ops.ticket_id, ops.requester
        summary.approval, summary.locks = approval_note, keys
        summary.numbers["seconds"] = round(time.monotonic() - t0, 1)
        rid, rname = current_run()
        if ops.ticket_id:
            summary.related.append(("ticket", ops.ticket_id, ops.ticket_url or ""))
        if rid:
            summary.related.append(("this run", rname or rid, run_url(rid)))
            try:
                summary.related += child_runs(rid)
            except Exception as exc:  # noqa: BLE001 - the summary must still be published
                logger.warning("could not list sub-runs: %s", exc)
        publish_summary(summary)
    if state is not None and not state.is_completed():
        return state  # returning a non-completed state makes this run end in the same state
    return result


@cache
def build(name: str) -> Any:
    proc = procedures()[name]
    model = proc.load_model()

    def wrapper(params: Any, ops: OpsOptions | None = None) -> Any:
        return run_operated(proc, params, ops or OpsOptions())

    wrapper.__annotations__ = {"params": model, "ops": OpsOptions | None, "return": Any}
    # a model whose fields all have defaults makes params optional (schedules need no parameters)
    with contextlib.suppress(ValueError):
        wrapper.__defaults__ = (model(), None)
    wrapper.__name__ = wrapper.__qualname__ = proc.wrapper_name
    wrapper.__doc__ = f"{proc.description}\n\nOperated run of {proc.flow}: locks, approval, summary, redaction."
    return flow(name=f"ops-{proc.name}", description=proc.description, log_prints=False,
                validate_parameters=True)(wrapper)


def __getattr__(attr: str) -> Any:
    for p in procedures().values():
        if p.wrapper_name == attr:
            return build(p.name)
    raise AttributeError(attr)
