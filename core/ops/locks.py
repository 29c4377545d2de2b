"""Per-target lock keys derived from a flow's target parameters.

A procedure declares which parameters name its targets, e.g. the HMC block plus the managed system, or the
registry host. Two runs whose keys intersect must not run at once. Keys are Prefect global concurrency limit
names (no ``/ % & > <``), readable in the UI: ``lock:hmc:10.0.0.5:22:Server-9119-MME-SN0696010``.

A parameter that names a BLOCK is keyed by the identity of what the block points at, not by the block's name:
two blocks for the same HMC (``site-hmc`` and ``hmc-prod``) give the same key. The identity is resolved at run
start (flows/_ops.py reads the block document) and passed here; ``endpoint_identity`` derives it from the
block's data: ``host:port`` of an SSH endpoint, ``address`` of a Docker host or registry, ``host:port`` of an
API URL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_KEY = 120
_BANNED = re.compile(r"[/%&><\s]+")


@dataclass(frozen=True)
class LockTarget:
    """One kind of target: its key is ``lock:<kind>:<value of field 1>:<value of field 2>...``.

    A field path may be dotted (``prepare.install_server``). A field holding a list gives one key per element
    (``targets`` = several hosts: each host is locked), a mapping one key per value (``novalink_ssh`` =
    partition -> SSH block: each host is locked). Empty/None values give no key.
    """

    kind: str
    fields: tuple[str, ...]
    # (field, block type slug): that field's value is a block name, keyed by the block's target identity
    blocks: tuple[tuple[str, str], ...] = ()

    def block_slug(self, path: str) -> str | None:
        return next((slug for f, slug in self.blocks if f == path), None)


def get_path(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else getattr(cur, part, None)
        if cur is None:
            return None
    return cur


def _items(value: Any) -> list[Any]:
    """The values a field contributes to keys: a list's elements, a mapping's values, else the value itself."""
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value) if isinstance(value, list | tuple) else [value]


def _clean(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return _BANNED.sub("_", text.strip())


def make_key(kind: str, parts: list[str]) -> str:
    key = "lock:" + ":".join([_clean(kind), *[_clean(p) for p in parts]])
    if len(key) > MAX_KEY:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = key[: MAX_KEY - 17] + "~" + digest
    return key


def block_refs(targets: tuple[LockTarget, ...] | list[LockTarget], params: Any) -> list[tuple[str, str]]:
    """(block type slug, block name) of every block-valued lock field set in ``params``: what to resolve."""
    data = params.model_dump() if hasattr(params, "model_dump") else params
    refs: list[tuple[str, str]] = []
    for t in targets:
        for f, slug in t.blocks:
            v = get_path(data, f)
            for item in _items(v):
                if item not in (None, "") and (slug, str(item)) not in refs:
                    refs.append((slug, str(item)))
    return refs


def endpoint_identity(data: Mapping[str, Any]) -> str | None:
    """The network identity of what a block points at, from its data (secrets are not needed).

    ``host`` [+ ``port``] (SSH targets, HMC, VIOS) -> ``host:port``; ``address`` (Docker host, registry:
    already ``host`` or ``host:port``); ``auth_url`` / ``base_url`` (PowerVC, mirror host) -> ``host:port``
    of the URL (default port of the scheme); else a nested ``ssh`` target. Host names are lower-cased."""
    host = data.get("host")
    if isinstance(host, str) and host:
        port = data.get("port")
        return f"{host.lower()}:{port}" if port not in (None, "") else host.lower()
    address = data.get("address")
    if isinstance(address, str) and address:
        return address.lower()
    for key in ("auth_url", "base_url"):
        url = data.get(key)
        if isinstance(url, str) and url:
            parts = urlsplit(url)
            if parts.hostname:
                port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
                return f"{parts.hostname.lower()}:{port}"
    ssh = data.get("ssh")
    if isinstance(ssh, Mapping):
        return endpoint_identity(ssh)
    return None


def derive_lock_keys(targets: tuple[LockTarget, ...] | list[LockTarget], params: Any,
                     identities: Mapping[tuple[str, str], Sequence[str]] | None = None) -> list[str]:
    """Sorted, de-duplicated lock keys for ``params`` (a dict or a pydantic model).

    ``identities`` maps (block type slug, block name) to the target identities resolved from that block (a
    swarm inventory gives one per manager). A block field without a resolved identity keeps the block name
    (``block=<name>``), so a run still locks something when the block cannot be read."""
    data = params.model_dump() if hasattr(params, "model_dump") else params
    identities = identities or {}
    keys: set[str] = set()
    for t in targets:
        values: list[list[str]] = [[]]
        for f in t.fields:
            v = get_path(data, f)
            items = [i for i in _items(v) if i not in (None, "")]
            if not items:
                values = []
                break
            slug = t.block_slug(f)
            if slug is not None:
                items = [ident for i in items if i not in (None, "")
                         for ident in (identities.get((slug, str(i))) or [f"block={i}"])]
            values = [prev + [_clean(i)] for prev in values for i in items if i not in (None, "")]
        for parts in values:
            if parts:
                keys.add(make_key(t.kind, parts))
    return sorted(keys)


def holder_variable_name(key: str) -> str:
    """Name of the Prefect Variable that records who holds ``key`` (lowercase, digits, ``_`` only)."""
    return "powerops_lock_" + hashlib.sha256(key.encode()).hexdigest()[:24]
