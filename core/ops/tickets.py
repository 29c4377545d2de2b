"""Ticket payloads and the strict validation of a ticket's parameters against a flow's parameter model.

Prefect's ``create_flow_run`` validates parameters against the flow's models but accepts unknown extra fields
(they crash the run later), and reports only the first error. ``validate_parameters`` reports EVERY problem,
unknown fields included, at any depth, before anything is created.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.ops.errors import TicketInvalid

TICKET_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class TicketPayload(BaseModel):
    """What a ticketing system (ServiceNow, Jira, ...) sends to start a procedure."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: str = Field(description="Ticket / change number, e.g. CHG0031337. Also the idempotency key: "
                           "a repeated delivery returns the same run.")
    procedure: str = Field(description="Deployment name, e.g. stand-up-registry (GET /procedures lists them).")
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="The procedure's parameters (its model's fields).")
    requester: str = Field(min_length=1, max_length=128, description="Who asked (user id in the ticketing system).")
    callback_url: str | None = Field(default=None, description="Where the outcome is POSTed when the run ends "
                                     "(default: the service's configured callback).")
    on_lock_busy: Literal["wait", "fail"] | None = Field(
        default=None, description="When another run holds the target: wait for it or fail at once "
                                  "(default: the procedure's setting).")

    @field_validator("ticket_id")
    @classmethod
    def _ticket_id(cls, v: str) -> str:
        if not TICKET_ID_RE.match(v):
            raise ValueError("ticket_id: 1-128 characters of letters, digits, '.', '_', ':', '-'")
        return v

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", v):
            raise ValueError("callback_url must be an http(s) URL")
        return v


class DecisionPayload(BaseModel):
    """An approver's decision on a ticket's plan, as the ticketing system relays it."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(min_length=1, max_length=128, description="Who decides (user id).")
    approve: bool = Field(description="True approves the plan, false denies it.")
    comment: str = Field(default="", max_length=2000, description="Why (recorded with the decision).")


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in parts) if parts else "(root)"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models that a field annotation can hold directly (X, X | None, Optional[X], Annotated[X, ..])."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        out: list[type[BaseModel]] = []
        for a in typing.get_args(annotation):
            out += _models_in(a)
        return out
    return []


def _item_models(annotation: Any) -> tuple[str, list[type[BaseModel]]]:
    """('list', models) for list/tuple/set of models, ('dict', models) for dict[str, model], ('', [])."""
    for ann in [annotation, *typing.get_args(annotation)]:
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin in (list, tuple, set, frozenset) and args:
            return "list", [m for a in args for m in _models_in(a)]
        if origin is dict and len(args) == 2:
            return "dict", _models_in(args[1])
    return "", []


def unknown_fields(model: type[BaseModel], data: Any, prefix: tuple[Any, ...] = ()) -> list[dict[str, str]]:
    """Every key of ``data`` that ``model`` (and its nested models) does not declare."""
    if not isinstance(data, dict):
        return []
    errors: list[dict[str, str]] = []
    by_name: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        by_name[name] = info.annotation
        if info.alias:
            by_name[info.alias] = info.annotation
    for key, value in data.items():
        if key not in by_name:
            allowed = ", ".join(sorted(model.model_fields))
            errors.append({"loc": _loc((*prefix, key)), "type": "extra_forbidden",
                           "msg": f"unknown field (allowed: {allowed})"})
            continue
        ann = by_name[key]
        for m in _models_in(ann):
            if isinstance(value, dict):
                errors += unknown_fields(m, value, (*prefix, key))
                break
        kind, items = _item_models(ann)
        if items and kind == "list" and isinstance(value, list):
            for i, v in enumerate(value):
                errors += unknown_fields(items[0], v, (*prefix, key, i))
        elif items and kind == "dict" and isinstance(value, dict):
            for k, v in value.items():
                errors += unknown_fields(items[0], v, (*prefix, key, k))
    return errors


def validate_parameters(model: type[BaseModel], data: dict[str, Any],
                        prefix: tuple[Any, ...] = ("parameters",)) -> BaseModel:
    """The validated model, or TicketInvalid listing every error (unknown fields and model errors)."""
    errors = unknown_fields(model, data, prefix)
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            errors.append({"loc": _loc((*prefix, *e["loc"])), "type": str(e["type"]), "msg": str(e["msg"])})
        value = None
    if errors or value is None:
        raise TicketInvalid(f"parameters do not fit {model.__name__}", errors)
    return value


def parse_ticket(raw: Any) -> TicketPayload:
    """The ticket, or TicketInvalid listing every error of the envelope."""
    try:
        return TicketPayload.model_validate(raw)
    except ValidationError as exc:
        errs = [{"loc": _loc(e["loc"]), "type": str(e["type"]), "msg": str(e["msg"])}
                for e in exc.errors(include_url=False)]
        raise TicketInvalid("ticket payload is not valid", errs) from None
