"""PowerVC's instance health table (``nova.instance_health_status``, IBM's own; no API resets it).

The seed ran ``update instance_health_status set health_state='PENDING',reason='' where
health_state='WARNING'`` by hand. Here: rows are read with ``mysql -B -N`` (tab-separated), a plan names each
row, and the UPDATE touches exactly the planned ids (validated UUIDs, no other input reaches the SQL).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from core.errors import InvalidInput
from core.powervc.models import Action, Plan

TABLE = "instance_health_status"
SELECT = ("SELECT id, health_state, reason FROM instance_health_status "
          "WHERE deleted = 0 AND health_state = 'WARNING' ORDER BY created_at, id;\n")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class HealthRow:
    id: str
    health_state: str
    display_name: str
    property_key: str
    property_value: str


def _unescape(field: str) -> str:
    """mysql -B escapes tab, newline and backslash in values."""
    return field.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\")


def parse_rows(text: str) -> list[HealthRow]:
    """Output of ``mysql -B -N`` for SELECT: id, health_state, reason (JSON list)."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise InvalidInput(f"unexpected mysql output line: {line[:120]!r}")
        rid, state, reason = (_unescape(p) for p in parts)
        name = key = value = ""
        try:
            items = json.loads(reason) if reason not in ("", "NULL") else []
        except json.JSONDecodeError:
            items = []
        if items and isinstance(items, list) and isinstance(items[0], dict):
            name = str(items[0].get("display_name", ""))
            key = str(items[0].get("resource_property_key", ""))
            value = str(items[0].get("resource_property_value", ""))
        rows.append(HealthRow(rid, state, name, key, value))
    return rows


def plan_health_reset(rows: list[HealthRow], names: list[str], reasons: list[str]) -> Plan:
    """Reset WARNING rows to PENDING so PowerVC re-evaluates them; optionally only named servers and/or
    reasons ("vm_state=deleted", "rmc_state=inactive", or just "vm_state")."""
    actions, ok = [], []
    for r in rows:
        if names and r.display_name not in names and r.id not in names:
            continue
        if reasons and not any(x in (r.property_key, f"{r.property_key}={r.property_value}") for x in reasons):
            ok.append(f"{r.display_name}: {r.property_key}={r.property_value} not selected")
            continue
        actions.append(Action("reset_health", r.display_name or r.id,
                              f"WARNING ({r.property_key}={r.property_value}) -> PENDING", {"id": r.id}))
    return Plan(tuple(actions), tuple(ok))


def update_sql(ids: list[str]) -> str:
    """The UPDATE for exactly these rows (only still-WARNING ones), in a transaction."""
    if not ids:
        raise InvalidInput("no rows to update")
    bad = [i for i in ids if not _UUID.match(i)]
    if bad:
        raise InvalidInput(f"not row ids: {', '.join(bad[:3])}")
    quoted = ",".join(f"'{i}'" for i in ids)  # validated UUIDs only
    return (f"START TRANSACTION;\nUPDATE {TABLE} SET health_state='PENDING', reason='', updated_at=NOW() "
            f"WHERE id IN ({quoted}) AND health_state='WARNING' AND deleted=0;\nSELECT ROW_COUNT();\nCOMMIT;\n")
