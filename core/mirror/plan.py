"""Snapshots, manifests and sync plans shared by the apt, yum and pip mirrors.

Layout of a mirror destination (local directory or a directory on the mirror host)::

    <dest>/.pool/sha256/<2 hex>/<64 hex>     content-addressed store of every file (hardlink source)
    <dest>/.pool/partial/<64 hex>            downloads in progress (resumed with HTTP Range)
    <dest>/snapshots/<id>/...                a complete, consistent tree (hardlinks into the pool)
    <dest>/snapshots/<id>/.powerops-stamp.json      small: what upstream state the snapshot is
    <dest>/snapshots/<id>/.powerops-manifest.json   every path with size and SHA256
    <dest>/current -> snapshots/<id>         switched with rename(2): clients never see a half tree

Pool files referenced by no snapshot have a link count of 1 and are garbage.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.mirror.deb822 import FileEntry
from core.mirror.errors import MalformedIndex

STAMP = ".powerops-stamp.json"
MANIFEST = ".powerops-manifest.json"
_SNAPSHOT = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def pool_path(sha256: str) -> str:
    """Path of a content object relative to the destination."""
    if not _HEX64.match(sha256):
        raise MalformedIndex(f"not a SHA256 digest: {sha256!r}")
    return f".pool/sha256/{sha256[:2]}/{sha256}"


def partial_path(sha256: str) -> str:
    return f".pool/partial/{sha256}"


def spec_digest(spec: Mapping[str, object]) -> str:
    """Stable digest of a mirror's configuration (a change of suites or architectures forces a full plan)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def snapshot_id(timestamp: str, digest: str) -> str:
    """'20261124T223000Z' + a content digest -> snapshot directory name."""
    sid = f"{timestamp}-{digest[:8]}"
    if not _SNAPSHOT.match(sid):
        raise MalformedIndex(f"invalid snapshot id {sid!r}")
    return sid


def is_snapshot_id(name: str) -> bool:
    return bool(_SNAPSHOT.match(name))


@dataclass(frozen=True)
class Stamp:
    """What a published snapshot was made from; equal stamps mean 'nothing to do'."""

    kind: str
    spec: str  # spec_digest
    upstream: dict[str, str]  # e.g. suite -> sha256 of the signed InRelease bytes

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "spec": self.spec, "upstream": self.upstream}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Stamp:
        try:
            d = json.loads(text)
            return cls(kind=str(d["kind"]), spec=str(d["spec"]), upstream={str(k): str(v) for k, v in d["upstream"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedIndex(f"snapshot stamp is unreadable: {exc}") from None


def manifest_to_json(files: Mapping[str, FileEntry]) -> str:
    return json.dumps({p: [e.size, e.sha256] for p, e in sorted(files.items())}, separators=(",", ":"))


def manifest_from_json(text: str | bytes) -> dict[str, FileEntry]:
    try:
        raw = json.loads(text)
        return {str(p): FileEntry(int(v[0]), str(v[1])) for p, v in raw.items()}
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise MalformedIndex(f"snapshot manifest is unreadable: {exc}") from None


@dataclass(frozen=True)
class Download:
    """One object to fetch: ``path`` is relative to the upstream URL; ``size`` -1 when no index says it."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SyncPlan:
    """What a run will do to go from the published snapshot to the wanted tree."""

    wanted: dict[str, FileEntry]
    downloads: tuple[Download, ...]
    reused_files: int
    reused_bytes: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def download_bytes(self) -> int:
        return sum(max(d.size, 0) for d in self.downloads)

    @property
    def total_bytes(self) -> int:
        return sum(max(e.size, 0) for e in self.wanted.values())

    def summary(self) -> dict[str, int]:
        return {
            "files": len(self.wanted), "bytes": self.total_bytes, "to download": len(self.downloads),
            "bytes to download": self.download_bytes, "reused": self.reused_files,
            "added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
        }


def plan_sync(
    wanted: Mapping[str, FileEntry],
    present: Iterable[str],
    current: Mapping[str, FileEntry] | None,
) -> SyncPlan:
    """Compare the wanted tree with the pool (``present`` SHA256 digests) and the published manifest.

    Each distinct content is downloaded once, from the first path that names it.
    """
    have = set(present)
    downloads: dict[str, Download] = {}
    reused = reused_bytes = 0
    for path, entry in sorted(wanted.items()):
        if entry.sha256 in have:
            reused += 1
            reused_bytes += max(entry.size, 0)
        elif entry.sha256 not in downloads:
            downloads[entry.sha256] = Download(path, entry.size, entry.sha256)
    cur = current or {}
    added = tuple(sorted(p for p in wanted if p not in cur))
    removed = tuple(sorted(p for p in cur if p not in wanted))
    changed = tuple(sorted(p for p, e in wanted.items() if p in cur and cur[p] != e))
    return SyncPlan(dict(wanted), tuple(downloads.values()), reused, reused_bytes, added, removed, changed)


def snapshots_to_prune(snapshots: Iterable[str], current: str | None, keep: int) -> list[str]:
    """Oldest snapshots beyond the ``keep`` newest; the published one is never pruned."""
    ordered = sorted((s for s in snapshots if is_snapshot_id(s)), reverse=True)
    kept = set(ordered[:max(keep, 1)])
    if current:
        kept.add(current)
    return sorted(s for s in ordered if s not in kept)


def throughput_row(files: int, nbytes: int, seconds: float, skipped: int, failed: int) -> dict[str, str]:
    rate = nbytes / seconds / 1e6 if seconds > 0 else 0.0
    return {
        "files": str(files), "bytes": str(nbytes), "seconds": f"{seconds:.2f}",
        "throughput": f"{rate:.1f} MB/s", "skipped": str(skipped), "failed": str(failed),
    }
