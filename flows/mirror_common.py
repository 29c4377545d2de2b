"""Pieces shared by the mirror flows: parameter fields, destination resolution, summary artifacts.

mirror-apt and mirror-yum are async flows (see ``flows._sync``), build-wheelhouse is not: every Prefect call
here that dispatches on the run context (``Block.load``, ``create_*_artifact``) is forced sync with
``_sync=True``, else in an async flow it returns a coroutine and does nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field, field_validator

from core.errors import InvalidInput
from core.mirror.plan import SyncPlan
from seams.mirror_store import LocalStore, RemoteStore
from tasks.background import Background

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_LOCAL_ROOT = "/var/lib/powerops/mirror"


class Destination(BaseModel):
    """Where a mirror is published."""

    name: str = Field(description="Mirror name: its directory under the mirror root and its URL path /<name>/.")
    mirror_host_block: str = Field(default="", description="powerops-mirror-host block to publish to "
                                                            "(empty: a local directory, see local_root).")
    local_root: str = Field(default=DEFAULT_LOCAL_ROOT,
                            description="Local mirror root used when no mirror host block is given.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise InvalidInput(f"invalid mirror name {v!r}: letters, digits, . _ -")
        return v


@dataclass
class Stores:
    local: LocalStore
    remote: RemoteStore | None
    url: str | None

    @property
    def published(self) -> LocalStore | RemoteStore:
        return self.remote or self.local


def resolve_destination(dest: Destination) -> Stores:
    if not dest.mirror_host_block:
        return Stores(LocalStore(Path(dest.local_root) / dest.name), None, None)
    from blocks.mirror import MirrorHost
    from blocks.ssh import SshTarget

    host = MirrorHost.load(dest.mirror_host_block, _sync=True)
    url = host.mirror_url(dest.name)
    if not host.ssh_target:
        return Stores(LocalStore(Path(host.root) / dest.name), None, url)
    target = SshTarget.load(host.ssh_target, _sync=True)
    remote = RemoteStore(target.connect(), f"{host.root}/{dest.name}")
    return Stores(LocalStore(Path(host.cache_dir) / dest.name), remote, url)


_LAST_TIMESTAMP = [""]


def snapshot_timestamp() -> str:
    """UTC second of a new snapshot, never the same twice in a process: two runs in one second with the same
    content would otherwise name the same snapshot directory (seen: a re-fetch right after a full run)."""
    while True:
        ts = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        if ts != _LAST_TIMESTAMP[0]:
            _LAST_TIMESTAMP[0] = ts
            return ts
        time.sleep(0.05)


def load_keyring(block: str) -> tuple[bytes | None, list[str]]:
    """The keys and allowed fingerprints of a powerops-mirror-keyring block (none when no block is named)."""
    if not block:
        return None, []
    from blocks.mirror import MirrorKeyring

    kr = MirrorKeyring.load(block, _sync=True)
    return kr.keyring_bytes(), list(kr.allowed_fingerprints)


def keyring_loader(bg: Background, block: str, needed: bool) -> Callable[[], tuple[bytes | None, list[str]]]:
    """A function that gives the keyring. When the run is sure to verify a signature (``needed``: nothing is
    published yet, or every file is re-checked) the block load starts now on ``bg``, alongside the upstream
    fetch (a block load is 35-50 ms against the lab server); otherwise it is loaded only when asked for:
    a no-change run needs no key."""
    if needed:
        return bg.submit(load_keyring, block).result
    return lambda: load_keyring(block)


def publish_plan_artifact(kind: str, name: str, plan: SyncPlan, dry_run: bool) -> None:
    s = plan.summary()
    rows = "\n".join(f"| {k} | {v} |" for k, v in s.items())
    sample = "\n".join(f"- `{p}`" for p in plan.added[:20]) or "- (none)"
    removed = "\n".join(f"- `{p}`" for p in plan.removed[:20]) or "- (none)"
    create_markdown_artifact(
        markdown=f"# {kind} mirror `{name}`: plan{' (dry run: nothing changed)' if dry_run else ''}\n\n"
                 f"| item | count |\n|---|---|\n{rows}\n\n## Added (first 20)\n{sample}\n\n"
                 f"## No longer referenced (first 20)\n{removed}\n",
        key=f"mirror-{kind}-plan", description=f"{kind} mirror {name}: plan", _sync=True,
    )


def publish_summary(kind: str, name: str, rows: list[dict[str, str]]) -> None:
    create_table_artifact(table=rows, key=f"mirror-{kind}-summary", description=f"{kind} mirror {name}: summary",
                          _sync=True)
