"""The isolation planner on recorded API states (tests/fixtures/powervc, recorded from the lab's real services)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.powervc import isolation, novaconf, parse
from core.powervc.errors import NotFound
from core.powervc.isolation import (
    ADMIN_WARNING,
    IsolationFacts,
    IsolationRequest,
    plan_isolation,
    tenants_of,
    with_tenant,
    without_tenant,
)
from core.powervc.models import render_plan_markdown

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "powervc"
HB02 = "974265f122df4fba97e3eb6d66dcff91"
NEW = "90d064b4abea4339acd32a8b6a8b1fdf"  # the seed's hb01 project id


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def request(**kw) -> IsolationRequest:  # type: ignore[no-untyped-def]
    base = dict(project="hb01", user="hb01_admin", role="member", aggregates=("hb01_mn",),
                allowed_volume_types=("svc1 base template",), allowed_volume_quota=10000, can_create_user=True)
    base.update(kw)
    return IsolationRequest(**base)  # type: ignore[arg-type]


def fresh_facts() -> IsolationFacts:
    """A cloud where nothing of hb01 exists yet (recorded lab state, scheduler filter not enabled)."""
    conf = (FIX / "nova.conf.lab").read_text()
    return IsolationFacts(
        project_id=None, user_id=None, user_roles=(), roles=("admin", "member", "reader", "service"),
        aggregates=parse.aggregates(load("aggregates_lab.json")),
        compute_hosts=("9119MME_0696010", "9119MME_1009425"),
        volume_types=parse.volume_type_names(load("volume_types_lab.json")),
        volume_quotas={}, scheduler=novaconf.scheduler_filters(novaconf.without_filter(conf)))


def converged_facts() -> IsolationFacts:
    aggs = []
    for a in parse.aggregates(load("aggregates_lab.json")):
        if a.name == "hb01_mn":
            a = replace(a, metadata={**a.metadata, "filter_tenant_id": NEW})
        aggs.append(a)
    quotas = parse.quota_set(load("quota_set_fresh_project.json"))
    quotas.update({"volumes_svc1 base template": 10000, "volumes_svc2 base template": 0, "volumes_svc3": 0,
                   "volumes___DEFAULT__": 0})
    return replace(fresh_facts(), project_id=NEW, user_id="u1", user_roles=("member",), aggregates=tuple(aggs),
                   volume_quotas=quotas,
                   scheduler=novaconf.scheduler_filters((FIX / "nova.conf.lab").read_text()))


def test_parsers_on_recordings() -> None:
    aggs = {a.name: a for a in parse.aggregates(load("aggregates_lab.json"))}
    assert aggs["hb02_mn"].hosts == ("9119MME_0696010",)
    assert tenants_of(aggs["hb02_mn"].metadata) == [HB02]
    assert tenants_of(aggs["hb01_mn"].metadata) == []
    q = parse.quota_set(load("quota_set_fresh_project.json"))
    assert q["volumes_svc2 base template"] == -1 and "id" not in q
    assert parse.role_names(load("role_assignments_member.json")) == ("member",)
    assert parse.volume_type_names(load("volume_types_lab.json")) == (
        "__DEFAULT__", "svc1 base template", "svc2 base template", "svc3")


def test_fresh_cloud_plans_everything_in_order() -> None:
    plan = plan_isolation(request(), fresh_facts())
    kinds = [a.kind for a in plan.actions]
    assert kinds == ["create_project", "create_user", "assign_role", "tag_aggregate", "enable_scheduler_filter",
                     "set_volume_quota", "set_volume_quota", "set_volume_quota", "set_volume_quota"]
    quotas = {a.args["key"]: a.args["value"] for a in plan.of_kind("set_volume_quota")}
    assert quotas == {"volumes___DEFAULT__": 0, "volumes_svc1 base template": 10000,
                      "volumes_svc2 base template": 0, "volumes_svc3": 0}
    assert plan.warnings == ()
    md = render_plan_markdown("isolate-tenant hb01", plan)
    assert "| 4 | tag_aggregate | hb01_mn |" in md and "AggregateMultiTenancyIsolation" in md


def test_converged_cloud_plans_nothing_and_says_why() -> None:
    plan = plan_isolation(request(), converged_facts())
    assert plan.empty
    assert "host group hb01_mn allows hb01" in plan.in_place
    assert "scheduler filter AggregateMultiTenancyIsolation is enabled" in plan.in_place


def test_drift_is_each_difference() -> None:
    facts = converged_facts()
    q = dict(facts.volume_quotas)
    q["volumes_svc3"] = 5
    aggs = tuple(replace(a, metadata={k: v for k, v in a.metadata.items() if k != "filter_tenant_id"})
                 if a.name == "hb01_mn" else a for a in facts.aggregates)
    plan = plan_isolation(request(), replace(facts, volume_quotas=q, aggregates=aggs))
    assert [(a.kind, a.target) for a in plan.actions] == [("tag_aggregate", "hb01_mn"),
                                                          ("set_volume_quota", "volumes_svc3")]
    assert plan.actions[1].detail.startswith("5 -> 0")


def test_tenant_tagged_on_a_group_it_should_not_have_is_untagged() -> None:
    facts = converged_facts()
    aggs = tuple(replace(a, metadata={**a.metadata, "filter_tenant_id": f"{HB02},{NEW}"})
                 if a.name == "hb02_mn" else a for a in facts.aggregates)
    plan = plan_isolation(request(), replace(facts, aggregates=aggs))
    assert [(a.kind, a.target) for a in plan.actions] == [("untag_aggregate", "hb02_mn")]


def test_admin_role_is_a_warning_in_the_plan() -> None:
    plan = plan_isolation(request(role="admin"), fresh_facts())
    assert ADMIN_WARNING in plan.warnings
    assert "GLOBAL" in render_plan_markdown("x", plan)
    held = plan_isolation(request(), replace(converged_facts(), user_roles=("admin", "member")))
    assert any("already holds admin" in w for w in held.warnings)


def test_untagged_hosts_are_warned_about() -> None:
    facts = fresh_facts()
    aggs = tuple(replace(a, metadata={"dro_enabled": "False"}) if a.name == "hb02_mn" else a
                 for a in facts.aggregates)
    plan = plan_isolation(request(), replace(facts, aggregates=aggs))
    assert any("9119MME_0696010" in w and "only keeps OTHER tenants off" in w for w in plan.warnings)


def test_no_ssh_means_a_warning_not_a_silent_pass() -> None:
    plan = plan_isolation(request(), replace(converged_facts(), scheduler=None))
    assert plan.empty and any("could not be read" in w for w in plan.warnings)


@pytest.mark.parametrize(("kw", "error", "match"), [
    ({"aggregates": ("nope",)}, NotFound, "nope"),
    ({"allowed_volume_types": ("gold",)}, NotFound, "gold"),
    ({"role": "superuser"}, NotFound, "superuser"),
    ({"can_create_user": False}, InvalidInput, "no password"),
])
def test_refuses_what_it_cannot_do(kw, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        plan_isolation(request(**kw), fresh_facts())


def test_request_validation() -> None:
    with pytest.raises(InvalidInput):
        request(aggregates=())
    with pytest.raises(InvalidInput):
        request(allowed_volume_quota=-2)


def test_several_tenants_share_an_aggregate_as_a_comma_list() -> None:
    meta = {"dro_enabled": "False", "filter_tenant_id": HB02}
    assert with_tenant(meta, NEW) == {"filter_tenant_id": f"{HB02},{NEW}"}
    assert with_tenant({**meta, "filter_tenant_id": f"{HB02},{NEW}"}, NEW) == {}
    assert without_tenant({"filter_tenant_id": f"{HB02},{NEW}"}, HB02) == {"filter_tenant_id": NEW}
    assert without_tenant({"filter_tenant_id": NEW}, NEW) == {"filter_tenant_id": None}
    assert with_tenant({}, NEW) == {"filter_tenant_id": NEW}


def test_long_tenant_lists_spill_to_a_numbered_key() -> None:
    ids = [f"{i:032x}" for i in range(7)]  # 7*32 + 6 commas = 230 characters
    meta = {"filter_tenant_id": ",".join(ids)}
    change = with_tenant(meta, NEW)
    assert change == {"filter_tenant_id2": NEW}
    assert NEW in tenants_of({**meta, "filter_tenant_id2": NEW})
    assert len(meta["filter_tenant_id"]) <= isolation.METADATA_VALUE_MAX
