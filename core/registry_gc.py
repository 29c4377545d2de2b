"""Registry garbage collection: which tags a retention rule prunes, and what ``registry garbage-collect`` said.

Pure (no I/O). How the real ``distribution`` registry frees space, and what this module plans for it:

1. Tags are pruned through the registry API: ``DELETE /v2/<name>/manifests/<digest>`` (needs
   ``storage.delete.enabled``). Deleting a manifest BY DIGEST removes every tag pointing at that digest, so a
   candidate whose digest is also behind a kept or protected tag is never deleted (it is reported instead).
2. ``registry garbage-collect <config>`` then removes the blobs no remaining manifest references
   (``--delete-untagged`` also removes manifests without any tag). It must not race a push: the flow stops the
   registry for the sweep (see flows/registry_gc.py).

Safety rules of the plan: a repository never loses all its tags; a tag whose date is unknown is kept; tags
matching a protected pattern and images in use (running containers / swarm services) are kept.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field

from core.errors import InvalidInput, SafetyCheckFailed

# What a registry client must accept to get the digest of any kind of image (HEAD /v2/<name>/manifests/<tag>).
MANIFEST_ACCEPT = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.oci.image.index.v1+json")

_FRACTION = re.compile(r"\.(\d+)")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


@dataclass(frozen=True)
class RetentionRule:
    """Keep the newest ``keep`` tags (matching ``tags``) of every repository matching ``repositories``.

    Patterns are shell globs (``fnmatch``): ``powerops/*``, ``release-*``. Tags of a matching repository that do
    not match ``tags`` are left alone."""

    repositories: str
    keep: int
    tags: str = "*"

    def __post_init__(self) -> None:
        if self.keep < 1:
            raise InvalidInput(f"retention rule {self.repositories!r}: keep must be >= 1 (never delete every tag)")
        if not self.repositories.strip() or not self.tags.strip():
            raise InvalidInput("retention rule: empty repository or tag pattern")

    def matches(self, repository: str) -> bool:
        return fnmatch.fnmatchcase(repository, self.repositories)


@dataclass(frozen=True)
class TagInfo:
    """One tag as read from the registry: its manifest digest, image creation time, and blobs (digest -> size)."""

    repository: str
    tag: str
    digest: str
    created: dt.datetime | None = None
    blobs: tuple[tuple[str, int], ...] = ()
    manifest_size: int = 0

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Deletion:
    repository: str
    digest: str
    tags: tuple[str, ...]
    created: dt.datetime | None
    reason: str


@dataclass
class PrunePlan:
    deletions: list[Deletion] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)      # (repo:tag, why)
    estimated_bytes: int = 0                                          # blobs only the deleted manifests use

    @property
    def deleted_refs(self) -> list[str]:
        return [f"{d.repository}:{t}" for d in self.deletions for t in d.tags]

    def rows(self) -> list[dict[str, str]]:
        out = [{"image": f"{d.repository}:{','.join(d.tags)}", "action": "delete", "digest": d.digest[:19],
                "created": _iso(d.created), "why": d.reason} for d in self.deletions]
        out += [{"image": ref, "action": "keep", "digest": "", "created": "", "why": why} for ref, why in self.kept]
        return out


def _iso(t: dt.datetime | None) -> str:
    return t.isoformat(timespec="seconds") if t else "unknown"


def validate_repository(name: str) -> str:
    if not _REPO.match(name) or len(name) > 255:
        raise InvalidInput(f"not a registry repository name: {name!r}")
    return name


def validate_digest(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidInput(f"not a sha256 digest: {digest!r}")
    return digest


def image_refs_in_use(images: list[str], registry_address: str) -> tuple[set[str], set[str]]:
    """(``repo:tag`` set, digest set) of the images (container / service image strings) served by this
    registry. ``10.0.0.5:5000/app:1@sha256:..`` gives ``app:1`` and the digest; images of other registries are
    ignored."""
    refs: set[str] = set()
    digests: set[str] = set()
    prefix = registry_address.rstrip("/") + "/"
    for image in images:
        if not image.startswith(prefix):
            continue
        rest = image[len(prefix):]
        name, _, digest = rest.partition("@")
        if digest:
            digests.add(digest)
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            refs.add(name)
        elif name:
            refs.add(name + ":latest")
    return refs, digests


def parse_created(raw: object) -> dt.datetime | None:
    """The ``created`` time of an image config (RFC 3339, Go writes nanoseconds), None if absent or bad."""
    if not isinstance(raw, str) or not raw:
        return None
    # fromisoformat takes at most 6 fraction digits: cut nanoseconds to microseconds
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), raw.strip()).replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _newest_first(tags: list[TagInfo]) -> list[TagInfo]:
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    # newest creation first; equal times: the larger tag name first (release-10 after release-9 is not
    # guaranteed, but it is deterministic)
    return sorted(tags, key=lambda t: (t.created or epoch, t.tag), reverse=True)


def plan_prune(tags: list[TagInfo], rules: list[RetentionRule], protected: list[str] | tuple[str, ...] = (),
               in_use_refs: set[str] | frozenset[str] = frozenset(),
               in_use_digests: set[str] | frozenset[str] = frozenset()) -> PrunePlan:
    """The tags a set of retention rules deletes. The first rule matching a repository applies to it.

    A tag is kept when it is among the newest ``keep`` of its rule, matches a ``protected`` tag pattern
    (``latest``, ``stable-*``), is in use, has an unknown creation time, or shares its digest with any kept
    tag (a DELETE by digest would remove that tag too). Raises SafetyCheckFailed if a repository would lose
    every tag (cannot happen with keep >= 1; checked anyway, the last line of defence)."""
    plan = PrunePlan()
    by_repo: dict[str, list[TagInfo]] = {}
    for t in tags:
        by_repo.setdefault(t.repository, []).append(t)
    for repo in sorted(by_repo):
        repo_tags = by_repo[repo]
        rule = next((r for r in rules if r.matches(repo)), None)
        if rule is None:
            continue
        subject = [t for t in repo_tags if fnmatch.fnmatchcase(t.tag, rule.tags)]
        keep: dict[str, str] = {}
        for t in repo_tags:
            if t not in subject:
                keep[t.tag] = f"tag does not match {rule.tags!r}"
            elif any(fnmatch.fnmatchcase(t.tag, p) for p in protected):
                keep[t.tag] = "protected tag"
            elif t.ref in in_use_refs or t.digest in in_use_digests:
                keep[t.tag] = "in use by a running container or service"
            elif t.created is None:
                keep[t.tag] = "creation time unknown (kept to be safe)"
        ranked = [t for t in _newest_first(subject) if t.tag not in keep]
        for i, t in enumerate(ranked[: rule.keep]):
            keep[t.tag] = f"newest {i + 1} of {rule.keep} ({rule.repositories})"
        kept_digests = {t.digest for t in repo_tags if t.tag in keep}
        candidates: dict[str, list[TagInfo]] = {}
        for t in ranked[rule.keep:]:
            if t.digest in kept_digests:
                keep[t.tag] = "same digest as a kept tag (deleting it would delete that tag too)"
            else:
                candidates.setdefault(t.digest, []).append(t)
        if not keep:
            raise SafetyCheckFailed(f"pruning would delete every tag of {repo}: refused")
        for digest, group in sorted(candidates.items(), key=lambda kv: kv[1][0].tag):
            plan.deletions.append(Deletion(repo, digest, tuple(sorted(t.tag for t in group)), group[0].created,
                                           f"older than the newest {rule.keep} ({rule.repositories})"))
        plan.kept += [(f"{repo}:{tag}", why) for tag, why in sorted(keep.items())]
    plan.estimated_bytes = estimate_freed(tags, plan)
    return plan


def estimate_freed(tags: list[TagInfo], plan: PrunePlan) -> int:
    """Bytes of the blobs (layers, configs) and manifests that only deleted manifests reference."""
    deleted = {(d.repository, d.digest) for d in plan.deletions}
    used_by_kept: set[str] = set()
    gone: dict[str, int] = {}
    seen_manifests: set[tuple[str, str]] = set()
    manifests = 0
    for t in tags:
        if (t.repository, t.digest) in deleted:
            gone.update(dict(t.blobs))
            if (t.repository, t.digest) not in seen_manifests:
                seen_manifests.add((t.repository, t.digest))
                manifests += t.manifest_size
        else:
            used_by_kept.update(d for d, _ in t.blobs)
    return manifests + sum(size for d, size in gone.items() if d not in used_by_kept)


# ------------------------------------------------------------------------------------ garbage-collect output


@dataclass(frozen=True)
class GcReport:
    marked: int
    blobs_eligible: int
    manifests_eligible: int
    blobs: tuple[str, ...]          # digests of the blobs eligible for deletion (or deleted)


_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")
_ELIGIBLE = re.compile(r"blob eligible for deletion: (sha256:[0-9a-f]{64})")


def parse_gc_output(text: str) -> GcReport:
    """Parse ``registry garbage-collect`` output (distribution 2.x, stdout; the same with ``--dry-run``)."""
    m = _SUMMARY.search(text)
    if not m:
        raise InvalidInput("garbage-collect output has no summary line "
                           "('N blobs marked, N blobs and N manifests eligible for deletion')")
    blobs = tuple(dict.fromkeys(_ELIGIBLE.findall(text)))
    return GcReport(int(m.group(1)), int(m.group(2)), int(m.group(3)), blobs)


def parse_du_bytes(text: str) -> int:
    """``du -sb PATH`` output: the first field is the size in bytes."""
    first = text.strip().split()
    if not first or not first[0].isdigit():
        raise InvalidInput(f"unexpected du output: {text.strip()[:80]!r}")
    return int(first[0])


def gc_argv(config: str, dry_run: bool, delete_untagged: bool, binary: str = "/usr/bin/registry") -> list[str]:
    argv = [binary, "garbage-collect"]
    if dry_run:
        argv.append("--dry-run")
    if delete_untagged:
        argv.append("--delete-untagged")
    return [*argv, config]


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def plan_markdown(address: str, plan: PrunePlan, gc_dry: GcReport | None, dry_run: bool) -> str:
    lines = [f"## Registry garbage collection plan for `{address}`", "",
             f"* tags to delete: **{len(plan.deleted_refs)}** in {len(plan.deletions)} manifest(s); "
             f"estimated space freed by pruning: {human_bytes(plan.estimated_bytes)}"]
    if gc_dry is not None:
        lines.append(f"* `garbage-collect --dry-run` now: {gc_dry.blobs_eligible} blob(s) and "
                     f"{gc_dry.manifests_eligible} manifest(s) already unreferenced, {gc_dry.marked} marked")
    lines.append(f"* mode: {'dry run (nothing changes)' if dry_run else 'apply'}")
    if plan.deletions:
        lines += ["", "| delete | digest | created | why |", "|---|---|---|---|",
                  *[f"| {d.repository}:{','.join(d.tags)} | `{d.digest[:19]}` | {_iso(d.created)} | {d.reason} |"
                    for d in plan.deletions]]
    if plan.kept:
        lines += ["", "| keep | why |", "|---|---|", *[f"| {ref} | {why} |" for ref, why in plan.kept[:200]]]
    return "\n".join(lines)
