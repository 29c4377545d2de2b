"""yum/dnf repository metadata: repomd.xml and primary.xml (createrepo_c output), parsed with the stdlib.

Only SHA256 checksums are accepted (createrepo_c's default); older repositories with sha1/md5 are refused.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import xml.etree.ElementTree as ET  # noqa: S405 - expat refuses external entities and entity expansion bombs
from collections.abc import Iterator
from dataclasses import dataclass

from core.mirror.deb822 import FileEntry
from core.mirror.errors import MalformedIndex

REPO = "{http://linux.duke.edu/metadata/repo}"
COMMON = "{http://linux.duke.edu/metadata/common}"


@dataclass(frozen=True)
class RepoData:
    type: str
    href: str
    entry: FileEntry
    open_sha256: str = ""


@dataclass(frozen=True)
class RpmPackage:
    name: str
    arch: str
    epoch: str
    version: str
    release: str
    href: str
    entry: FileEntry

    @property
    def nevra(self) -> str:
        e = "" if self.epoch in ("", "0") else f"{self.epoch}:"
        return f"{self.name}-{e}{self.version}-{self.release}.{self.arch}"


def _safe(href: str, what: str) -> str:
    norm = posixpath.normpath(href)
    if not href or href.startswith("/") or "://" in href or norm.startswith(".."):
        raise MalformedIndex(f"{what}: unsafe location {href!r}")
    return norm


def _sha256(el: ET.Element | None, what: str) -> str:
    if el is None or not (el.text or "").strip():
        raise MalformedIndex(f"{what}: no checksum")
    kind = el.get("type", "")
    if kind not in ("sha256",):
        raise MalformedIndex(f"{what}: checksum type {kind!r} refused (only sha256 is trusted)")
    digest = (el.text or "").strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise MalformedIndex(f"{what}: malformed sha256 {digest!r}")
    return digest


def parse_repomd(data: bytes) -> list[RepoData]:
    try:
        root = ET.fromstring(data)  # noqa: S314 - see import note
    except ET.ParseError as exc:
        raise MalformedIndex(f"repomd.xml: {exc}") from None
    if root.tag != f"{REPO}repomd":
        raise MalformedIndex(f"repomd.xml: unexpected root element {root.tag!r}")
    out = []
    for d in root.findall(f"{REPO}data"):
        kind = d.get("type", "")
        loc = d.find(f"{REPO}location")
        if loc is None or loc.get("{http://www.w3.org/XML/1998/namespace}base"):
            raise MalformedIndex(f"repomd.xml: {kind}: missing location or xml:base (refused)")
        href = _safe(loc.get("href", ""), f"repomd.xml {kind}")
        size_el = d.find(f"{REPO}size")
        size_text = (size_el.text or "") if size_el is not None else ""
        size = int(size_text) if size_text.isdigit() else -1
        open_el = d.find(f"{REPO}open-checksum")
        out.append(RepoData(kind, href, FileEntry(size, _sha256(d.find(f"{REPO}checksum"), f"repomd.xml {kind}")),
                            _sha256(open_el, kind) if open_el is not None else ""))
    if not any(r.type == "primary" for r in out):
        raise MalformedIndex("repomd.xml lists no primary metadata")
    return out


def decompress(name: str, data: bytes) -> bytes:
    try:
        if name.endswith(".gz"):
            return gzip.decompress(data)
        if name.endswith(".xz"):
            return lzma.decompress(data)
        if name.endswith(".bz2"):
            return bz2.decompress(data)
    except (OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise MalformedIndex(f"{name}: cannot decompress: {exc}") from None
    if name.endswith(".zst"):
        raise MalformedIndex(f"{name}: zstd-compressed metadata is not supported (ask createrepo_c for gz/xz)")
    return data


def iter_primary(xml: bytes) -> Iterator[RpmPackage]:
    """Packages of a primary.xml, streamed (large repositories do not build a whole tree)."""
    try:
        for _event, el in ET.iterparse(io.BytesIO(xml), events=("end",)):  # noqa: S314
            if el.tag != f"{COMMON}package":
                continue
            name = (el.findtext(f"{COMMON}name") or "").strip()
            arch = (el.findtext(f"{COMMON}arch") or "").strip()
            ver = el.find(f"{COMMON}version")
            loc = el.find(f"{COMMON}location")
            size = el.find(f"{COMMON}size")
            if ver is None or loc is None or size is None or not name:
                raise MalformedIndex(f"primary.xml: package {name or '?'} lacks version, location or size")
            if loc.get("{http://www.w3.org/XML/1998/namespace}base"):
                raise MalformedIndex(f"primary.xml: {name}: xml:base locations are refused")
            try:
                nbytes = int(size.get("package", ""))
            except ValueError:
                raise MalformedIndex(f"primary.xml: {name}: invalid package size") from None
            yield RpmPackage(name, arch, ver.get("epoch", "0"), ver.get("ver", ""), ver.get("rel", ""),
                             _safe(loc.get("href", ""), f"primary.xml {name}"),
                             FileEntry(nbytes, _sha256(el.find(f"{COMMON}checksum"), f"primary.xml {name}")))
            el.clear()
    except ET.ParseError as exc:
        raise MalformedIndex(f"primary.xml: {exc}") from None


def parse_primary(xml: bytes) -> list[RpmPackage]:
    return list(iter_primary(xml))
