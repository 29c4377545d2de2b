"""PowerVC's instance health table: parse mysql -B -N output, plan, and the exact UPDATE."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.powervc import healthdb

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "powervc"


def rows() -> list[healthdb.HealthRow]:
    return healthdb.parse_rows((FIX / "health_rows.mysql-B-N.txt").read_text())


def test_parse() -> None:
    r = rows()
    assert [(x.display_name, x.property_key, x.property_value) for x in r] == [
        ("p00ww6754398", "rmc_state", "initializing"), ("multi-vol", "vm_state", "deleted"),
        ("clouddev-test-754df319-00000038", "rmc_state", "inactive")]
    assert healthdb.parse_rows("") == []
    with pytest.raises(InvalidInput):
        healthdb.parse_rows("only\ttwo")


def test_plan_filters() -> None:
    assert [a.target for a in healthdb.plan_health_reset(rows(), [], []).actions] == [
        "p00ww6754398", "multi-vol", "clouddev-test-754df319-00000038"]
    plan = healthdb.plan_health_reset(rows(), [], ["vm_state=deleted"])
    assert [a.target for a in plan.actions] == ["multi-vol"]
    assert plan.actions[0].args["id"] == "2668e808-10a1-425f-a272-6b052584557d"
    assert [a.target for a in healthdb.plan_health_reset(rows(), [], ["rmc_state"]).actions] == [
        "p00ww6754398", "clouddev-test-754df319-00000038"]
    assert [a.target for a in healthdb.plan_health_reset(rows(), ["multi-vol"], []).actions] == ["multi-vol"]


def test_update_touches_only_the_planned_ids() -> None:
    sql = healthdb.update_sql(["2668e808-10a1-425f-a272-6b052584557d"])
    assert "WHERE id IN ('2668e808-10a1-425f-a272-6b052584557d') AND health_state='WARNING'" in sql
    assert sql.startswith("START TRANSACTION;") and sql.rstrip().endswith("COMMIT;")
    with pytest.raises(InvalidInput):
        healthdb.update_sql(["x' OR '1'='1"])
    with pytest.raises(InvalidInput):
        healthdb.update_sql([])
