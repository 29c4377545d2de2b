"""Planner cases as data (pyinfra style): current state as the HMC prints it, desired state, expected
commands (as they leave the SSH seam) or the no-op reason. A new case is a new file in plan_cases/."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from core.hmc import commands as C
from core.hmc.parsers import parse_lshwres_vnic
from core.hmc.planner import DesiredVnic, plan_vnic

CASES = sorted((Path(__file__).parent / "plan_cases").glob("*.json"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_case(path):
    case = json.loads(path.read_text())
    d = case["desired"]
    desired = DesiredVnic(d["lpar"], d["vlan"], d["auto_failover"],
                          tuple(C.BackingSpec(v, a, p, cap, pr) for v, a, p, cap, pr in d["backing"]))
    plan = plan_vnic(desired, parse_lshwres_vnic(case["current"]), "sys1")
    assert [[s.kind, shlex.join(s.argv)] for s in plan.steps] == case["steps"]
    if not case["steps"]:
        assert case["noop_reason"] in plan.noop_reason


def test_there_are_cases():
    assert len(CASES) >= 4
