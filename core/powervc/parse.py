"""Pure parsers: OpenStack API JSON bodies -> the typed facts the planners use."""

from __future__ import annotations

from typing import Any

from core.powervc.models import Aggregate


def aggregates(body: dict[str, Any]) -> tuple[Aggregate, ...]:
    """GET /os-aggregates."""
    return tuple(Aggregate(str(a["id"]), str(a["name"]), tuple(a.get("hosts") or ()),
                           {str(k): str(v) for k, v in (a.get("metadata") or {}).items()})
                 for a in body["aggregates"])


def quota_set(body: dict[str, Any]) -> dict[str, int]:
    """GET /os-quota-sets/{project} (cinder or nova): numeric limits only (drops 'id')."""
    return {str(k): int(v) for k, v in body["quota_set"].items() if isinstance(v, int) and not isinstance(v, bool)}


def role_names(body: dict[str, Any]) -> tuple[str, ...]:
    """GET /v3/role_assignments?...&include_names=true."""
    return tuple(sorted({str(r["role"]["name"]) for r in body["role_assignments"]}))


def volume_type_names(body: dict[str, Any]) -> tuple[str, ...]:
    """GET /types (cinder)."""
    return tuple(sorted(str(t["name"]) for t in body["volume_types"]))
