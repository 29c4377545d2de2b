"""The deployment registry covers every flow, and prefect.yaml is generated from it."""

from __future__ import annotations

from pathlib import Path

import yaml

from deployments.registry import REPO, _discover, procedures
from deployments.render import render_prefect_yaml


def test_every_flow_in_flows_has_a_deployment() -> None:
    by_flow = {p.flow for p in procedures().values()}
    for name, ref, _model in _discover(REPO):
        assert ref in by_flow, f"flow {name} ({ref}) has no deployment"


def test_explicit_entries_point_at_real_flows_and_models() -> None:
    for p in procedures().values():
        if not p.discovered:
            fl = p.load_flow()
            assert hasattr(fl, "fn"), p.flow
            assert p.load_model().model_fields, p.model
            names = {f for t in p.locks for f in t.fields}
            top = {n.split(".")[0] for n in names}
            missing = top - set(p.load_model().model_fields)
            assert not missing, f"{p.name}: lock fields {missing} are not parameters"


def test_prefect_yaml_is_generated_from_the_registry() -> None:
    on_disk = yaml.safe_load((REPO / "prefect.yaml").read_text())
    want = yaml.safe_load(render_prefect_yaml())
    have = {d["name"]: d for d in on_disk["deployments"]}
    explicit = {n for n, p in procedures().items() if not p.discovered}
    for d in want["deployments"]:
        if d["name"] in explicit:
            assert have.get(d["name"]) == d, f"prefect.yaml out of date for {d['name']}: python -m deployments"
    pull = on_disk["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"]
    assert pull == "{{ $POWEROPS_REPO }}"


def test_schedules_have_documented_defaults() -> None:
    doc = (Path(REPO) / "docs" / "ticketing.md").read_text()
    for p in procedures().values():
        for s in p.schedules:
            assert s.why, f"{p.name}: schedule without a reason"
            assert p.name in doc, f"{p.name}'s schedule is not documented in docs/ticketing.md"
