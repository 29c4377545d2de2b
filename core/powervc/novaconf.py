"""nova.conf / cinder.conf reading and minimal editing (oslo.config INI files), without touching other lines.

Only the lines that must change are rewritten: comments, order and every other option stay as they are, so a
diff of the edit shows exactly one line (what an operator would have typed by hand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidInput

MULTI_TENANCY_FILTER = "AggregateMultiTenancyIsolation"
# Nova's default [filter_scheduler] enabled_filters (2024.x and later) when the option is absent.
NOVA_DEFAULT_FILTERS = (
    "ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter",
)
CINDER_DEFAULT_OSAPI_MAX_LIMIT = 1000

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION = re.compile(r"^([A-Za-z0-9_.\-]+)\s*[=:]\s*(.*?)\s*$")


def options(text: str) -> dict[tuple[str, str], str]:
    """Every ``(section, key) -> value`` of an INI text (last one wins, like oslo.config)."""
    section = "DEFAULT"
    out: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        m = _OPTION.match(line)
        if m and not line[0].isspace():
            out[(section, m.group(1))] = m.group(2)
    return out


@dataclass(frozen=True)
class SchedulerFilters:
    """The scheduler filters a nova.conf enables and where that comes from."""

    filters: tuple[str, ...]
    section: str  # "filter_scheduler", "DEFAULT" (old scheduler_default_filters) or "" (Nova's default)
    key: str

    @property
    def multi_tenancy(self) -> bool:
        return MULTI_TENANCY_FILTER in self.filters


def _split(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip())


def scheduler_filters(text: str) -> SchedulerFilters:
    """Enabled filters: [filter_scheduler] enabled_filters, else the pre-Pike [DEFAULT]
    scheduler_default_filters PowerVC still ships (as in the seed), else Nova's default list."""
    opts = options(text)
    if ("filter_scheduler", "enabled_filters") in opts:
        return SchedulerFilters(_split(opts[("filter_scheduler", "enabled_filters")]),
                                "filter_scheduler", "enabled_filters")
    if ("DEFAULT", "scheduler_default_filters") in opts:
        return SchedulerFilters(_split(opts[("DEFAULT", "scheduler_default_filters")]),
                                "DEFAULT", "scheduler_default_filters")
    return SchedulerFilters(NOVA_DEFAULT_FILTERS, "", "")


def set_option(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``key = value`` in ``section``: the existing line is replaced in place, else the option is
    appended to the section (created at the end if missing). Everything else is kept byte for byte."""
    if "\n" in value or "\r" in value:
        raise InvalidInput(f"value for {key} must be one line")
    lines = text.splitlines(keepends=True)
    current = "DEFAULT"
    last_in_section: int | None = None
    replace_at: int | None = None
    for i, line in enumerate(lines):
        m = _SECTION.match(line)
        if m:
            current = m.group(1).strip()
            if current == section:
                last_in_section = i
            continue
        if current != section:
            continue
        if line.strip():
            last_in_section = i
        m = _OPTION.match(line)
        if m and not line[0].isspace() and m.group(1) == key:
            replace_at = i
    new_line = f"{key} = {value}\n"
    if replace_at is not None:
        lines[replace_at] = new_line
    elif last_in_section is not None:
        if not lines[last_in_section].endswith("\n"):
            lines[last_in_section] += "\n"
        lines.insert(last_in_section + 1, new_line)
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if lines and lines[-1].strip():
            lines.append("\n")
        lines += [f"[{section}]\n", new_line]
    return "".join(lines)


def with_filter(text: str, name: str = MULTI_TENANCY_FILTER) -> str:
    """nova.conf with ``name`` appended to the enabled scheduler filters (unchanged if already there)."""
    current = scheduler_filters(text)
    if name in current.filters:
        return text
    new = ",".join((*current.filters, name))
    if current.section:
        return set_option(text, current.section, current.key, new)
    return set_option(text, "filter_scheduler", "enabled_filters", new)


def without_filter(text: str, name: str = MULTI_TENANCY_FILTER) -> str:
    """nova.conf with ``name`` removed from the enabled scheduler filters (for negative tests, rollbacks)."""
    current = scheduler_filters(text)
    if name not in current.filters or not current.section:
        return text
    return set_option(text, current.section, current.key, ",".join(f for f in current.filters if f != name))


@dataclass(frozen=True)
class MaxLimitFinding:
    """osapi_max_limit of one cinder configuration file versus the expected value."""

    path: str
    value: int | None  # None = not set in the file (cinder's default applies)
    effective: int
    expected: int
    readable: bool = True

    @property
    def agrees(self) -> bool:
        return self.readable and self.effective == self.expected

    def describe(self) -> str:
        if not self.readable:
            return f"{self.path}: missing or unreadable"
        shown = f"{self.value}" if self.value is not None else f"not set (default {self.effective})"
        verdict = "agrees" if self.agrees else f"DISAGREES (expected {self.expected})"
        return f"{self.path}: osapi_max_limit = {shown} - {verdict}"


def check_osapi_max_limit(files: dict[str, str | None], expected: int) -> list[MaxLimitFinding]:
    """One finding per cinder configuration file (None = file missing); order of ``files`` is kept."""
    out = []
    for path, text in files.items():
        if text is None:
            out.append(MaxLimitFinding(path, None, 0, expected, readable=False))
            continue
        raw = options(text).get(("DEFAULT", "osapi_max_limit"))
        value: int | None
        try:
            value = int(raw) if raw is not None else None
        except ValueError as exc:
            raise InvalidInput(f"{path}: osapi_max_limit is not a number: {raw!r}") from exc
        out.append(MaxLimitFinding(path, value, value if value is not None else CINDER_DEFAULT_OSAPI_MAX_LIMIT,
                                   expected))
    return out
