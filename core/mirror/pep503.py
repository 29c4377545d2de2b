"""PEP 503 simple repository rendering and wheel file-name parsing (PEP 427), pure."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.mirror.deb822 import FileEntry
from core.mirror.errors import MalformedIndex

_NORMALIZE = re.compile(r"[-_.]+")
_WHEEL = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-(?P<version>[A-Za-z0-9_.!+]+)"
    r"(?:-(?P<build>\d[A-Za-z0-9_]*))?-(?P<py>[A-Za-z0-9_.]+)-(?P<abi>[A-Za-z0-9_.]+)-(?P<plat>[A-Za-z0-9_.]+)\.whl$"
)
_SDIST = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)-(?P<version>[0-9][A-Za-z0-9_.!+-]*)\.(tar\.gz|zip)$")


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return _NORMALIZE.sub("-", name).lower()


@dataclass(frozen=True)
class Distribution:
    filename: str
    project: str  # normalized
    version: str
    platform: str  # wheel platform tag, "" for sdists


def parse_filename(filename: str) -> Distribution:
    if "/" in filename or filename.startswith("."):
        raise MalformedIndex(f"not a distribution file name: {filename!r}")
    m = _WHEEL.match(filename)
    if m:
        return Distribution(filename, normalize(m["name"]), m["version"], m["plat"])
    m = _SDIST.match(filename)
    if m:
        return Distribution(filename, normalize(m["name"]), m["version"], "")
    raise MalformedIndex(f"not a wheel or sdist file name: {filename!r}")


def simple_index(files: Mapping[str, FileEntry], packages_dir: str = "packages") -> dict[str, bytes]:
    """The pages of a PEP 503 index for ``files`` (file name -> entry), stored under ``packages_dir``/.

    Returns {path: html}: ``simple/index.html`` and ``simple/<project>/index.html``; links are relative and
    carry ``#sha256=`` so pip checks every download.
    """
    projects: dict[str, list[tuple[str, FileEntry]]] = {}
    for name, entry in files.items():
        projects.setdefault(parse_filename(name).project, []).append((name, entry))
    pages: dict[str, bytes] = {}
    links = "\n".join(f'    <a href="{html.escape(p)}/">{html.escape(p)}</a><br/>' for p in sorted(projects))
    pages["simple/index.html"] = _page("Simple index", links)
    for project, dists in sorted(projects.items()):
        rows = "\n".join(
            f'    <a href="../../{packages_dir}/{html.escape(n)}#sha256={e.sha256}">{html.escape(n)}</a><br/>'
            for n, e in sorted(dists))
        pages[f"simple/{project}/index.html"] = _page(f"Links for {project}", rows)
    return pages


def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n'
            f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n    <h1>{html.escape(title)}</h1>\n"
            f"{body}\n  </body>\n</html>\n").encode()
