"""What an apt mirror contains: which index files of a Release to take, and the package set they list."""

from __future__ import annotations

import fnmatch
import gzip
import lzma
import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.mirror.deb822 import FileEntry, Release, parse_packages, parse_sha256sums, parse_sources
from core.mirror.errors import IndexMissing, MalformedIndex
from core.names import validate_suite

_COMPONENT = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
_ARCH = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
PACKAGES_VARIANTS = ("Packages", "Packages.gz", "Packages.xz")
SOURCES_VARIANTS = ("Sources", "Sources.gz", "Sources.xz")


@dataclass(frozen=True)
class AptSpec:
    """The slice of an apt repository to mirror (apt-mirror's mirror.list in typed form)."""

    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)
    architectures: tuple[str, ...] = ("ppc64el",)
    sources: bool = False
    installer: bool = False
    translations: bool = True
    contents: bool = False
    include_packages: tuple[str, ...] = ()  # fnmatch patterns of binary package names; () = all

    def __post_init__(self) -> None:
        if not self.suites:
            raise MalformedIndex("at least one suite is needed")
        for s in self.suites:
            validate_suite(s)
        for c in self.components:
            if not _COMPONENT.match(c):
                raise MalformedIndex(f"invalid component {c!r}")
        for a in self.architectures:
            if not _ARCH.match(a):
                raise MalformedIndex(f"invalid architecture {a!r}")
        if not self.components or not self.architectures:
            raise MalformedIndex("at least one component and one architecture are needed")

    def as_dict(self) -> dict[str, object]:
        return {
            "suites": list(self.suites), "components": list(self.components),
            "architectures": list(self.architectures), "sources": self.sources, "installer": self.installer,
            "translations": self.translations, "contents": self.contents,
            **({"include_packages": list(self.include_packages)} if self.include_packages else {}),
        }

    def wants(self, package: str) -> bool:
        return not self.include_packages or any(fnmatch.fnmatchcase(package, p) for p in self.include_packages)


@dataclass(frozen=True)
class IndexFile:
    """An index file of a suite: ``path`` relative to the repository root (dists/<suite>/...)."""

    path: str
    entry: FileEntry
    kind: str  # "packages" | "sources" | "sha256sums" | "other"
    group: str  # files of one group are alternatives (Packages, Packages.xz, ...): one must exist
    sha512: str = ""  # from the signed Release, for by-hash/SHA512 aliases only


def _wanted(rel: str, spec: AptSpec) -> tuple[str, str] | None:
    """(kind, group) if the Release-relative path ``rel`` belongs to the mirror, else None."""
    parts = rel.split("/")
    archs = set(spec.architectures) | {"all"}
    if "by-hash" in parts:
        return None
    if len(parts) == 1:
        m = re.match(r"^Contents-(?:udeb-)?([a-z0-9-]+)(\.gz|\.xz)?$", rel)
        if spec.contents and m and m.group(1) in archs:
            return ("other", rel)
        return None
    comp, rest = parts[0], parts[1:]
    if comp not in spec.components:
        return None
    head = rest[0]
    if head.startswith("binary-") and head[7:] in archs and len(rest) == 2:
        name = rest[1]
        if name in PACKAGES_VARIANTS:
            # binary-all is optional: only the selected architectures must have an index
            return ("packages", f"{comp}/{head}" if head != "binary-all" else f"?{comp}/{head}")
        return ("other", rel)
    if head == "source" and spec.sources and len(rest) == 2:
        if rest[1] in SOURCES_VARIANTS:
            return ("sources", f"{comp}/source")
        return ("other", rel)
    if head == "i18n" and spec.translations:
        return ("other", rel)
    if head.startswith("installer-") and head[10:] in archs and spec.installer:
        if rest[-1] == "SHA256SUMS":
            return ("sha256sums", rel)
        return None
    if head.startswith("Contents-") and spec.contents:
        m = re.match(r"^Contents-(?:udeb-)?([a-z0-9-]+)(\.gz|\.xz)?$", head)
        if m and m.group(1) in archs:
            return ("other", rel)
    if head == "cnf" and spec.translations and len(rest) == 2:
        m = re.match(r"^Commands-([a-z0-9-]+)(\.gz|\.xz)?$", rest[1])
        if m and m.group(1) in archs:
            return ("other", rel)
    return None


def select_index_files(release: Release, suite: str, spec: AptSpec) -> list[IndexFile]:
    """Index files of ``release`` the mirror takes, each with the size/SHA256 the signed Release gives."""
    out: list[IndexFile] = []
    for rel, entry in sorted(release.files.items()):
        w = _wanted(rel, spec)
        if w is None:
            continue
        out.append(IndexFile(f"dists/{suite}/{rel}", entry, w[0], w[1], release.sha512.get(rel, "")))
    groups = {f.group for f in out if f.kind == "packages" and not f.group.startswith("?")}
    for comp in spec.components:
        for arch in spec.architectures:
            if f"{comp}/binary-{arch}" not in groups:
                raise IndexMissing(f"suite {suite}: Release lists no Packages index for {comp}/binary-{arch} "
                                   f"(it has architectures {' '.join(release.architectures) or '?'} and "
                                   f"components {' '.join(release.components) or '?'})")
    return out


def by_hash_aliases(files: list[IndexFile]) -> dict[str, FileEntry]:
    """``<dir>/by-hash/SHA256|SHA512/<digest>`` copies of every index file (apt's Acquire-By-Hash).

    apt asks for the strongest hash the Release lists (SHA512); the content is the file verified by SHA256.
    """
    out: dict[str, FileEntry] = {}
    for f in files:
        directory = f.path.rsplit("/", 1)[0]
        out[f"{directory}/by-hash/SHA256/{f.entry.sha256}"] = f.entry
        if f.sha512:
            out[f"{directory}/by-hash/SHA512/{f.sha512}"] = f.entry
    return out


def decompress(name: str, data: bytes) -> bytes:
    """Content of an index file by its extension (pure: bytes in, bytes out)."""
    try:
        if name.endswith(".gz"):
            return gzip.decompress(data)
        if name.endswith(".xz"):
            return lzma.decompress(data)
    except (OSError, lzma.LZMAError, EOFError) as exc:
        raise MalformedIndex(f"{name}: cannot decompress: {exc}") from None
    return data


def pick_variant(available: Mapping[str, bytes], group_files: list[IndexFile]) -> IndexFile | None:
    """The variant of a group to parse: uncompressed first (cheapest), then gz (decompresses ~10x faster), xz."""
    by_name = {f.path.rsplit("/", 1)[1]: f for f in group_files if f.path in available}
    for name in (*PACKAGES_VARIANTS, *SOURCES_VARIANTS):
        if name in by_name:
            return by_name[name]
    return None


def package_files(indexes: Mapping[str, bytes], files: list[IndexFile], spec: AptSpec | None = None) -> dict[str, FileEntry]:
    """Pool files listed by the fetched Packages/Sources indexes (``indexes``: path -> raw bytes).

    With ``spec.include_packages`` only matching binary packages are taken (a partial mirror: the signed
    indexes stay as upstream published them, clients install only what is there).
    """
    groups: dict[str, list[IndexFile]] = {}
    for f in files:
        if f.kind in ("packages", "sources"):
            groups.setdefault(f.group, []).append(f)
    out: dict[str, FileEntry] = {}
    for group, members in sorted(groups.items()):
        chosen = pick_variant(indexes, members)
        if chosen is None:
            if group.startswith("?"):
                continue
            raise IndexMissing(f"no index of {group} could be fetched (tried "
                               f"{', '.join(m.path for m in members)})")
        text = decompress(chosen.path, indexes[chosen.path]).decode("utf-8", errors="replace")
        if chosen.kind == "packages":
            for p in parse_packages(text):
                if spec is None or spec.wants(p.name):
                    _add(out, p.filename, FileEntry(p.size, p.sha256))
        else:
            for s in parse_sources(text):
                if spec is not None and not spec.wants(s.name):
                    continue
                for path, entry in s.files.items():
                    _add(out, path, entry)
    return out


def _add(out: dict[str, FileEntry], path: str, entry: FileEntry) -> None:
    prev = out.get(path)
    if prev is not None and prev != entry:
        raise MalformedIndex(f"{path} is listed twice with different checksums ({prev.sha256} vs {entry.sha256})")
    out[path] = entry


def installer_files(indexes: Mapping[str, bytes], files: list[IndexFile]) -> dict[str, FileEntry]:
    """Installer images listed by the fetched (signed-Release-checked) SHA256SUMS files; sizes unknown (-1)."""
    out: dict[str, FileEntry] = {}
    for f in files:
        if f.kind != "sha256sums" or f.path not in indexes:
            continue
        base = f.path.rsplit("/", 1)[0]
        for path, digest in parse_sha256sums(indexes[f.path].decode("utf-8", errors="replace"), base).items():
            _add(out, path, FileEntry(-1, digest))
    return out
