"""Redaction of known secret values from text and structures.

The redactor knows every secret value the process has revealed (blocks' SecretStr fields, Secret blocks).
Each value is also matched in the forms it takes once serialised: JSON-escaped (a private key's newlines as
``\\n``), ``repr``-escaped, and for multi-line values each long line on its own (a PEM body line logged alone).
Values shorter than ``MIN_LEN`` are not registered: they would blank ordinary words.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

MIN_LEN = 6
MIN_LINE = 16
MASK = "[REDACTED]"


def variants(value: str) -> set[str]:
    """The forms of ``value`` that may appear in a log line, a JSON body or an artifact."""
    out = {value, value.strip()}
    out.add(json.dumps(value)[1:-1])
    out.add(repr(value)[1:-1])
    if "\n" in value.strip():
        for line in value.splitlines():
            line = line.strip()
            if len(line) >= MIN_LINE and not line.startswith("-----"):
                out.add(line)
    return {v for v in out if len(v) >= MIN_LEN}


class Redactor:
    """Thread-safe set of secret values, with ``redact_text`` / ``redact`` / ``contains``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str | bytes | None) -> bool:
        """Register a secret value; True if it was new."""
        if value is None:
            return False
        if isinstance(value, bytes):
            try:
                value = value.decode()
            except UnicodeDecodeError:
                return False
        new = variants(value) - self._values
        if not new:
            return False
        with self._lock:
            self._values |= new
            alts = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alts))
        return True

    def contains(self, text: str) -> bool:
        p = self._pattern
        return bool(p and p.search(text))

    def redact_text(self, text: str) -> str:
        p = self._pattern
        if p is None or not text:
            return text
        return p.sub(MASK, text)

    def redact(self, obj: Any) -> Any:
        """A copy of ``obj`` (str / dict / list / tuple, nested) with every known value masked."""
        if self._pattern is None:
            return obj
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, dict):
            return {self.redact(k): self.redact(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.redact(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact(v) for v in obj)
        return obj
