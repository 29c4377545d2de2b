"""Per-target lock keys derived from a flow's target parameters.

A procedure declares which parameters name its targets, e.g. the HMC block plus the managed system, or the
registry host. Two runs whose keys intersect must not run at once. Keys are Prefect global concurrency limit
names (no ``/ % & > <``), readable in the UI: ``lock:hmc:lab-hmc:Server-9119-MME-SN0696010``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

MAX_KEY = 120
_BANNED = re.compile(r"[/%&><\s]+")


@dataclass(frozen=True)
class LockTarget:
    """One kind of target: its key is ``lock:<kind>:<value of field 1>:<value of field 2>...``.

    A field path may be dotted (``prepare.install_server``). A field holding a list gives one key per element
    (``targets`` = several hosts: each host is locked). Empty/None values give no key.
    """

    kind: str
    fields: tuple[str, ...]


def get_path(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else getattr(cur, part, None)
        if cur is None:
            return None
    return cur


def _clean(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return _BANNED.sub("_", text.strip())


def make_key(kind: str, parts: list[str]) -> str:
    key = "lock:" + ":".join([_clean(kind), *[_clean(p) for p in parts]])
    if len(key) > MAX_KEY:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = key[: MAX_KEY - 17] + "~" + digest
    return key


def derive_lock_keys(targets: tuple[LockTarget, ...] | list[LockTarget], params: Any) -> list[str]:
    """Sorted, de-duplicated lock keys for ``params`` (a dict or a pydantic model)."""
    data = params.model_dump() if hasattr(params, "model_dump") else params
    keys: set[str] = set()
    for t in targets:
        values: list[list[str]] = [[]]
        for f in t.fields:
            v = get_path(data, f)
            if v is None or v == "" or v == []:
                values = []
                break
            items = v if isinstance(v, list | tuple) else [v]
            values = [prev + [_clean(i)] for prev in values for i in items if i not in (None, "")]
        for parts in values:
            if parts:
                keys.add(make_key(t.kind, parts))
    return sorted(keys)


def holder_variable_name(key: str) -> str:
    """Name of the Prefect Variable that records who holds ``key`` (lowercase, digits, ``_`` only)."""
    return "powerops_lock_" + hashlib.sha256(key.encode()).hexdigest()[:24]
