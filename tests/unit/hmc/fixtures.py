"""Loader of the recorded-output fixtures: tests/fixtures/hmc/<parser>/<case>.raw + <case>.json.

``<case>.raw`` starts with one ``#! source: ...`` line naming where the real output came from; the rest is
the output. ``<case>.json`` is ``{"args": {...}, "expected": <parse as plain data>}``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from core.hmc import parsers as P

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "hmc"


def read_raw(path: Path) -> tuple[str, str]:
    text = path.read_text()
    first, _, rest = text.partition("\n")
    if not first.startswith("#! source:"):
        raise AssertionError(f"{path} must start with a '#! source:' line")
    return first[len("#! source:"):].strip(), rest


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def cases() -> list[tuple[str, Path]]:
    return sorted((p.parent.name, p) for p in ROOT.glob("*/*.raw"))


def parse_case(parser: str, raw_path: Path) -> tuple[Any, Any]:
    """(actual parse as plain data, expected) for one fixture."""
    _, text = read_raw(raw_path)
    spec = json.loads(raw_path.with_suffix(".json").read_text())
    args = spec.get("args", {})
    return plain(P.PARSERS[parser](text, **args)), spec["expected"]
