"""Operating helpers every flow can use in one line: redaction, per-target locks, approval gate, run summary.

How a flow adopts them (see also docs/ticketing.md "Adopting the helpers in a flow"):

    from flows._ops import install_redaction, target_lock, approval_gate, publish_summary

    install_redaction()                                   # once per process; idempotent
    with target_lock(["lock:hmc:lab-hmc:sys1"]):          # or lock_for(LockTarget(...), params)
        ...change the target...
    approval_gate(plan_markdown, requester="alice")        # pauses for an ApprovalDecision
    publish_summary(RunSummary(...))                       # the run-summary artifact

The deployments in ``deployments/`` already wrap every flow with all four (``deployments/ops_flows.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import BaseModel

from core.ops.approval import ApprovalDecision, Verdict, decision_record, judge
from core.ops.errors import ApprovalRefused, TargetBusy
from core.ops.locks import LockTarget, block_refs, derive_lock_keys, endpoint_identity, holder_variable_name
from core.ops.redact import Redactor
from core.ops.summary import RunSummary, render_markdown

REDACTOR = Redactor()
APPROVERS_VARIABLE = "powerops_approvers"
_installed = False

# ---------------------------------------------------------------------------------------------- redaction


def register_secret(value: Any) -> None:
    """Tell the redactor about a secret value (str, bytes, or a dict/list of them)."""
    if isinstance(value, str | bytes):
        REDACTOR.add(value)
    elif isinstance(value, dict):
        for v in value.values():
            register_secret(v)
    elif isinstance(value, list | tuple):
        for v in value:
            register_secret(v)


class RedactionFilter(logging.Filter):
    """Rewrites a record's message (and exception text) with every known secret value masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not len(REDACTOR):
            return True
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string still gets logged
            msg = str(record.msg)
        if REDACTOR.contains(msg):
            record.msg = REDACTOR.redact_text(msg)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if REDACTOR.contains(text):
                record.exc_text = REDACTOR.redact_text(text)
                record.exc_info = None
        elif record.exc_text and REDACTOR.contains(record.exc_text):
            record.exc_text = REDACTOR.redact_text(record.exc_text)
        return True


_FILTER = RedactionFilter()


def _attach_filter() -> None:
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in lg.handlers:
            if _FILTER not in h.filters:
                h.addFilter(_FILTER)
        if lg.name.startswith("prefect") and _FILTER not in lg.filters:
            lg.addFilter(_FILTER)


# Endpoints whose bodies legitimately carry secrets (saving a block document): never rewritten.
_PASS_THROUGH = ("/block_documents", "/block_types", "/block_schemas")


def _redact_request(request: httpx.Request) -> None:
    if not len(REDACTOR) or request.method not in ("POST", "PUT", "PATCH"):
        return
    if any(p in request.url.path for p in _PASS_THROUGH):
        return
    try:
        body = request.read().decode()
    except (UnicodeDecodeError, httpx.RequestNotRead):
        return
    if not REDACTOR.contains(body):
        return
    new = REDACTOR.redact_text(body).encode()
    request._content = new  # noqa: SLF001 - httpx keeps the body here
    request.stream = httpx.ByteStream(new)
    request.headers["Content-Length"] = str(len(new))


def _patch_http_clients() -> None:
    from prefect.client import base

    if getattr(base.PrefectHttpxAsyncClient.send, "_powerops", False):
        return
    async_send = base.PrefectHttpxAsyncClient.send
    sync_send = base.PrefectHttpxSyncClient.send

    async def asend(self: Any, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        _redact_request(request)
        return await async_send(self, request, *args, **kwargs)

    def ssend(self: Any, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        _redact_request(request)
        return sync_send(self, request, *args, **kwargs)

    asend._powerops = True  # type: ignore[attr-defined]
    ssend._powerops = True  # type: ignore[attr-defined]
    base.PrefectHttpxAsyncClient.send = asend  # type: ignore[method-assign]
    base.PrefectHttpxSyncClient.send = ssend  # type: ignore[method-assign]


def _patch_events_client() -> None:
    """Task-run states, and other events, go to the server over the events websocket, not HTTP."""
    from prefect.events.clients import EventsClient
    from prefect.events.schemas.events import Event

    if getattr(EventsClient.emit, "_powerops", False):
        return
    original = EventsClient.emit

    async def emit(self: Any, event: Any) -> None:
        if len(REDACTOR):
            text = event.model_dump_json()
            if REDACTOR.contains(text):
                event = Event.model_validate_json(REDACTOR.redact_text(text))
        return await original(self, event)

    emit._powerops = True  # type: ignore[attr-defined]
    EventsClient.emit = emit  # type: ignore[method-assign]


def _patch_secret_types() -> None:
    from pydantic import types as ptypes

    base = ptypes._SecretBase  # noqa: SLF001 - every pydantic/Prefect secret type derives from it
    if getattr(base.get_secret_value, "_powerops", False):
        return
    original = base.get_secret_value

    def get_secret_value(self: Any) -> Any:
        value = original(self)
        register_secret(value)
        return value

    get_secret_value._powerops = True  # type: ignore[attr-defined]
    base.get_secret_value = get_secret_value  # type: ignore[method-assign]


def install_redaction() -> Redactor:
    """Mask every secret value this process reveals, in logs (all handlers), and in everything sent to the
    Prefect API (logs, artifacts, state messages, variables) except block documents. Idempotent.

    Values are learnt when revealed (``SecretStr.get_secret_value()``, ``Secret.load(...).get()``, block
    SecretStr fields) or with ``register_secret``. Set POWEROPS_REDACTION=off to disable (tests use it to
    prove the search finds an unredacted value)."""
    global _installed
    if os.environ.get("POWEROPS_REDACTION", "on") == "off":
        return REDACTOR
    _patch_secret_types()
    _patch_http_clients()
    _patch_events_client()
    _attach_filter()
    _installed = True
    return REDACTOR


# ---------------------------------------------------------------------------------------------- run context


def _ui_url() -> str:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    if ui:
        return str(ui).rstrip("/")
    return str(PREFECT_API_URL.value() or "").removesuffix("/api").rstrip("/")


def run_url(flow_run_id: Any) -> str:
    return f"{_ui_url()}/runs/flow-run/{flow_run_id}"


def current_run() -> tuple[str | None, str | None]:
    """(flow run id, flow run name) of the current run, or (None, None) outside a run."""
    from prefect.runtime import flow_run

    try:
        return (str(flow_run.id) if flow_run.id else None), flow_run.name
    except Exception:  # noqa: BLE001
        return None, None


# ---------------------------------------------------------------------------------------------- locks


def ensure_limit(name: str) -> None:
    """Create the global concurrency limit ``name`` (1 slot) unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


def lock_holder(key: str) -> str:
    """Who holds ``key``, as recorded when it was taken (run name, id, ticket, since when)."""
    from prefect.variables import Variable

    rec = Variable.get(holder_variable_name(key), default=None)
    if not isinstance(rec, dict):
        return "an unknown run (no holder recorded)"
    return (f"flow run {rec.get('flow_run_name')} ({rec.get('flow_run_id')}"
            + (f", ticket {rec['ticket_id']}" if rec.get("ticket_id") else "")
            + f", since {rec.get('since')}) {rec.get('url', '')}").strip()


def _record_holder(key: str, ticket_id: str | None) -> None:
    from prefect.variables import Variable

    rid, rname = current_run()
    rec = {"key": key, "flow_run_id": rid or "", "flow_run_name": rname or f"pid {os.getpid()}",
           "ticket_id": ticket_id or "", "host": socket.gethostname(),
           "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "url": run_url(rid) if rid else ""}
    Variable.set(holder_variable_name(key), rec, overwrite=True)


def _clear_holder(key: str) -> None:
    from prefect.variables import Variable

    with contextlib.suppress(Exception):
        Variable.unset(holder_variable_name(key))


@contextlib.contextmanager
def target_lock(keys: list[str], on_busy: str = "wait", wait_seconds: float | None = None,
                ticket_id: str | None = None) -> Iterator[list[str]]:
    """Hold one strict global-concurrency slot per key (limits created on demand, 1 slot each).

    ``on_busy="wait"`` waits (up to ``wait_seconds``, default forever), ``"fail"`` raises TargetBusy at once.
    Either way a busy target is reported with its holder's run name, id and ticket."""
    from prefect.concurrency.sync import concurrency

    keys = sorted(set(keys))
    if not keys:
        yield keys
        return
    for k in keys:
        ensure_limit(k)
    logger = _logger()
    timeout = 2.0 if on_busy == "fail" else wait_seconds
    t0 = time.monotonic()
    try:
        ctx = concurrency(keys, occupy=1, timeout_seconds=timeout, strict=True)
        ctx.__enter__()
    except TimeoutError:
        holders = "; ".join(f"{k} held by {lock_holder(k)}" for k in keys)
        raise TargetBusy(", ".join(keys), holders) from None
    try:
        waited = time.monotonic() - t0
        for k in keys:
            _record_holder(k, ticket_id)
        if logger:
            logger.info("locks taken after %.1f s: %s", waited, ", ".join(keys))
        yield keys
    finally:
        for k in keys:
            _clear_holder(k)
        ctx.__exit__(None, None, None)


# Blocks whose identity is not in their own data: they name other blocks (slug of the named blocks).
_INDIRECT = {"powerops-swarm-inventory": ("managers", "powerops-docker-host"),
             "powerops-mirror-host": ("ssh_target", "powerops-ssh-target")}


def _read_block_data(client: Any, slug: str, name: str) -> dict[str, Any]:
    doc = client.read_block_document_by_name(name=name, block_type_slug=slug, include_secrets=False)
    return dict(doc.data or {})


def resolve_identities(refs: list[tuple[str, str]], depth: int = 0) -> dict[tuple[str, str], list[str]]:
    """(slug, block name) -> the identities of the target the block points at, read from the block documents
    (secrets are not read). A swarm inventory resolves to its managers' addresses, a mirror host to its SSH
    target. A block that cannot be read is left out (its lock key falls back to the block name)."""
    from prefect.client.orchestration import get_client

    out: dict[tuple[str, str], list[str]] = {}
    if not refs:
        return out
    with get_client(sync_client=True) as client:
        for slug, name in refs:
            try:
                data = _read_block_data(client, slug, name)
            except Exception as exc:  # noqa: BLE001 - missing block: the flow itself reports it
                logger = _logger()
                if logger:
                    logger.warning("lock identity of %s block %r not resolved (%s): keyed by its name",
                                   slug, name, type(exc).__name__)
                continue
            if slug in _INDIRECT and depth < 2:
                field, inner_slug = _INDIRECT[slug]
                value = data.get(field)
                names = [str(v) for v in (value if isinstance(value, list) else [value]) if v]
                inner = resolve_identities([(inner_slug, n) for n in names], depth + 1)
                idents = sorted({i for n in names for i in inner.get((inner_slug, n), [])})
                if idents:
                    out[(slug, name)] = idents
                    continue
            ident = endpoint_identity(data)
            if ident:
                out[(slug, name)] = [ident]
    return out


def lock_keys(targets: list[LockTarget] | tuple[LockTarget, ...], params: Any) -> list[str]:
    """The lock keys of a run, block-valued targets keyed by the identity of what the block points at."""
    return derive_lock_keys(targets, params, resolve_identities(block_refs(targets, params)))


def lock_for(targets: list[LockTarget] | tuple[LockTarget, ...], params: Any, **kw: Any) -> Any:
    """``with lock_for((LockTarget("hmc", ("hmc_block", "managed_system")),), params): ...``"""
    return target_lock(lock_keys(targets, params), **kw)


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger] | None:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return None


# ---------------------------------------------------------------------------------------------- approval


def approvers() -> list[str]:
    """The approver list: Prefect Variable ``powerops_approvers`` (JSON list), else $POWEROPS_APPROVERS."""
    from prefect.variables import Variable

    v = Variable.get(APPROVERS_VARIABLE, default=None)
    if isinstance(v, list):
        return [str(x) for x in v]
    if isinstance(v, str) and v.strip():
        try:
            parsed = json.loads(v)
            if isinstance(parsed, list):
                return [str(x) for x in parsed]
        except json.JSONDecodeError:
            return [x.strip() for x in v.split(",") if x.strip()]
    env = os.environ.get("POWEROPS_APPROVERS", "")
    return [x.strip() for x in env.split(",") if x.strip()]


def approval_gate(plan_markdown: str, requester: str | None, reason: str = "disruptive procedure",
                  timeout_s: int = 24 * 3600, poll_s: int = 2, max_refusals: int = 20) -> dict[str, str]:
    """Publish the plan, pause for an ApprovalDecision, record every decision; return the accepted one.

    A decision from someone not on the approver list, or from the requester, is recorded as refused and the
    run pauses again. A denial raises ApprovalRefused (the run fails, nothing changed)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.flow_runs import pause_flow_run

    logger = _logger()
    create_markdown_artifact(
        key="approval-plan",
        markdown=f"## Plan awaiting approval\n\n*Why approval is needed*: {reason}\n\n"
                 f"*Requested by*: {requester or 'unknown'}\n\n{plan_markdown}",
        description="the plan an approver decides on")
    records: list[dict[str, str]] = []
    verdict: Verdict | None = None
    try:
        for attempt in range(max_refusals):
            if logger:
                logger.info("waiting for approval (%s); approvers: %s", reason, ", ".join(approvers()) or "none")
            decision = pause_flow_run(wait_for_input=ApprovalDecision, timeout=timeout_s, poll_interval=poll_s,
                                      key=f"approval-{attempt}")
            if not isinstance(decision, ApprovalDecision):
                decision = ApprovalDecision.model_validate(decision)
            verdict = judge(decision, requester, approvers())
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            records.append(decision_record(decision, verdict, requester, now))
            if logger:
                logger.info("approval decision: %s (%s)", verdict.outcome, verdict.reason)
            if verdict.outcome != "refused":
                break
    finally:
        if records:
            create_table_artifact(key="approval-decisions", table=records,
                                  description="every approval decision on this run, accepted or refused")
    if verdict is None or verdict.outcome == "refused":
        raise ApprovalRefused("no valid approval decision was given")
    if verdict.outcome == "denied":
        raise ApprovalRefused(f"plan {verdict.reason}; nothing was changed")
    return records[-1]


# ---------------------------------------------------------------------------------------------- summary


def publish_summary(summary: RunSummary, key: str = "run-summary") -> str:
    """Publish the run summary as a markdown artifact (redacted like everything sent to the API)."""
    from prefect.artifacts import create_markdown_artifact

    md = render_markdown(summary)
    create_markdown_artifact(key=key, markdown=md,
                             description=f"{summary.procedure}: {summary.outcome} - planned/changed/verified")
    return md


def child_runs(parent_flow_run_id: str) -> list[tuple[str, str, str]]:
    """(relation, label, url) of the sub-flow runs of a run, from the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_flow_run_id])))  # type: ignore[list-item]
    out = []
    for r in runs:
        state = r.state.name if r.state else "?"
        out.append(("sub-run", f"{r.name} ({state})", run_url(r.id)))
    return out


def model_fields_markdown(params: BaseModel) -> str:
    rows = ["| parameter | value |", "|---|---|"]
    for k, v in params.model_dump(mode="json").items():
        rows.append(f"| {k} | `{json.dumps(v)[:200]}` |")
    return "\n".join(rows)
