"""Debian control-file formats: Release/InRelease, Packages, Sources (RFC 822-style stanzas).

Formats as documented in https://wiki.debian.org/DebianRepository/Format: a stanza is a block of
``Field: value`` lines; continuation lines start with a space or a tab; stanzas are separated by blank lines.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from core.mirror.errors import MalformedIndex

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileEntry:
    """A file an index lists: its size and SHA256 (the only checksum powerops trusts)."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Release:
    """A parsed (already signature-checked) Release file."""

    fields: dict[str, str]
    files: dict[str, FileEntry]  # path relative to dists/<suite>/
    sha512: dict[str, str] = field(default_factory=dict)  # only to serve apt's by-hash/SHA512 aliases

    @property
    def suite(self) -> str:
        return self.fields.get("Suite", "")

    @property
    def codename(self) -> str:
        return self.fields.get("Codename", "")

    @property
    def architectures(self) -> list[str]:
        return self.fields.get("Architectures", "").split()

    @property
    def components(self) -> list[str]:
        return self.fields.get("Components", "").split()

    @property
    def acquire_by_hash(self) -> bool:
        return self.fields.get("Acquire-By-Hash", "no").strip().lower() == "yes"


@dataclass(frozen=True)
class DebPackage:
    """One binary package of a Packages index (what the mirror needs of it)."""

    name: str
    version: str
    architecture: str
    filename: str  # path relative to the repository root, e.g. pool/main/h/hello/hello_1.0_ppc64el.deb
    size: int
    sha256: str


@dataclass(frozen=True)
class SourcePackage:
    name: str
    version: str
    directory: str
    files: dict[str, FileEntry] = field(default_factory=dict)  # path relative to the repository root


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Split a control file into stanzas; multi-line values keep their lines joined by newlines."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if current:
                stanzas.append(current)
                current = {}
                key = ""
            continue
        if line[0] in " \t":
            if not key:
                raise MalformedIndex(f"line {lineno}: continuation line without a field: {line!r}")
            current[key] += "\n" + line.strip()
            continue
        if line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name:
            raise MalformedIndex(f"line {lineno}: not a 'Field: value' line: {line!r}")
        key = name
        current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _checksum_lines(value: str, what: str) -> list[tuple[str, int, str]]:
    out: list[tuple[str, int, str]] = []
    for line in value.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit():
            raise MalformedIndex(f"{what}: malformed checksum line {line!r} (want 'sha256 size path')")
        digest = parts[0].lower()
        if not _HEX64.match(digest):
            raise MalformedIndex(f"{what}: not a SHA256 digest: {parts[0]!r}")
        out.append((digest, int(parts[1]), parts[2]))
    return out


def _safe_path(path: str, what: str) -> str:
    norm = posixpath.normpath(path)
    if path.startswith("/") or norm.startswith("..") or "/../" in f"/{norm}/" or norm in ("", "."):
        raise MalformedIndex(f"{what}: unsafe path {path!r} (absolute or leaving the repository)")
    return norm


def parse_release(text: str) -> Release:
    """Parse the (cleartext) Release file. Only the SHA256 list is used: MD5Sum/SHA1 are ignored."""
    stanzas = parse_stanzas(text)
    if not stanzas:
        raise MalformedIndex("Release file is empty")
    fields = stanzas[0]
    if "SHA256" not in fields:
        raise MalformedIndex("Release file has no SHA256 list (MD5/SHA1-only repositories are refused)")
    files = {
        _safe_path(path, "Release"): FileEntry(size, digest)
        for digest, size, path in _checksum_lines(fields["SHA256"], "Release")
    }
    sha512: dict[str, str] = {}
    for line in fields.get("SHA512", "").splitlines():
        parts = line.split()
        if len(parts) == 3 and re.match(r"^[0-9a-f]{128}$", parts[0].lower()):
            path = _safe_path(parts[2], "Release")
            if path in files:
                sha512[path] = parts[0].lower()
    return Release(fields={k: v for k, v in fields.items() if k not in ("MD5Sum", "SHA1", "SHA256", "SHA512")},
                   files=files, sha512=sha512)


_PKG_FIELD = re.compile(r"^(Package|Version|Architecture|Filename|Size|SHA256):[ \t]*(.*?)[ \t]*$", re.M)
_BLANK = re.compile(r"\n[ \t]*\r?\n")


def parse_packages(text: str) -> list[DebPackage]:
    """Parse a Packages index; every stanza must carry Filename, Size and SHA256.

    Packages files are big (Debian main: 60,000 stanzas, 50 MB), so only the six fields the mirror needs are
    picked out of each stanza with one regular expression instead of a full field-by-field parse.
    """
    out: list[DebPackage] = []
    for block in _BLANK.split(text):
        if not block.strip():
            continue
        st = dict(_PKG_FIELD.findall(block))
        name = st.get("Package", "")
        missing = [k for k in ("Filename", "Size", "SHA256") if k not in st]
        if missing:
            raise MalformedIndex(f"Packages: stanza {name or '?'} lacks {', '.join(missing)}")
        if not st["Size"].isdigit():
            raise MalformedIndex(f"Packages: {name}: invalid Size {st['Size']!r}")
        digest = st["SHA256"].lower()
        if not _HEX64.match(digest):
            raise MalformedIndex(f"Packages: {name}: not a SHA256 digest: {digest!r}")
        out.append(DebPackage(name, st.get("Version", ""), st.get("Architecture", ""),
                              _safe_path(st["Filename"], f"Packages: {name}"), int(st["Size"]), digest))
    return out


def parse_sources(text: str) -> list[SourcePackage]:
    """Parse a Sources index (Checksums-Sha256 lists the files relative to Directory)."""
    out: list[SourcePackage] = []
    for st in parse_stanzas(text):
        name = st.get("Package", "")
        directory = st.get("Directory", "")
        if not directory or "Checksums-Sha256" not in st:
            raise MalformedIndex(f"Sources: stanza {name or '?'} lacks Directory or Checksums-Sha256")
        files = {
            _safe_path(f"{directory}/{fname}", f"Sources: {name}"): FileEntry(size, digest)
            for digest, size, fname in _checksum_lines(st["Checksums-Sha256"], f"Sources: {name}")
        }
        out.append(SourcePackage(name, st.get("Version", ""), directory, files))
    return out


def parse_sha256sums(text: str, base: str) -> dict[str, str]:
    """A ``SHA256SUMS`` file (installer images): ``digest  ./path`` lines -> {base/path: digest}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) != 2:
            continue
        digest, path = parts[0].lower(), parts[1].strip().lstrip("*")
        if not _HEX64.match(digest):
            raise MalformedIndex(f"SHA256SUMS: not a SHA256 digest: {parts[0]!r}")
        path = path[2:] if path.startswith("./") else path
        out[_safe_path(f"{base}/{path}", "SHA256SUMS")] = digest
    return out
