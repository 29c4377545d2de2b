"""Strict template rendering (jinja2, StrictUndefined, trailing newline kept). Pure: no I/O beyond templates."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - configuration files, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **values: Any) -> str:
    """Render ``templates/<template>``; a missing value is an error, never an empty string."""
    return _ENV.get_template(template).render(**values)


def render_string(source: str, **values: Any) -> str:
    return _ENV.from_string(source).render(**values)


def sha256_text(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()
