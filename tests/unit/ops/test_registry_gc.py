"""Registry GC planner: retention, safety rules, estimate, and parsing of recorded garbage-collect output."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import InvalidInput
from core.registry_gc import (
    RetentionRule,
    TagInfo,
    gc_argv,
    image_refs_in_use,
    parse_created,
    parse_du_bytes,
    parse_gc_output,
    plan_markdown,
    plan_prune,
)

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def dg(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def tag(repo: str, name: str, n: int, day: int | None, blobs: tuple[tuple[str, int], ...] = ()) -> TagInfo:
    created = None if day is None else T0 + dt.timedelta(days=day)
    return TagInfo(repo, name, dg(n), created, blobs or ((dg(1000 + n), 100 * n),), manifest_size=10)


def test_keeps_the_newest_n_and_deletes_the_rest_oldest_first_reported() -> None:
    tags = [tag("app", f"v{i}", i, i) for i in range(1, 6)]
    plan = plan_prune(tags, [RetentionRule("app", keep=2)])
    assert sorted(plan.deleted_refs) == ["app:v1", "app:v2", "app:v3"]
    kept = dict(plan.kept)
    assert kept["app:v5"].startswith("newest 1 of 2") and kept["app:v4"].startswith("newest 2 of 2")
    # estimate: each deleted tag's own blob + its manifest
    assert plan.estimated_bytes == (100 + 200 + 300) + 3 * 10


def test_repositories_without_a_rule_and_tags_outside_the_pattern_are_left_alone() -> None:
    tags = [tag("app", "release-1", 1, 1), tag("app", "release-2", 2, 2), tag("app", "dev", 3, 0),
            tag("other", "v1", 4, 1), tag("other", "v2", 5, 2)]
    plan = plan_prune(tags, [RetentionRule("a*", keep=1, tags="release-*")])
    assert plan.deleted_refs == ["app:release-1"]
    assert dict(plan.kept)["app:dev"] == "tag does not match 'release-*'"
    assert not any(ref.startswith("other:") for ref, _ in plan.kept)


def test_first_matching_rule_wins() -> None:
    tags = [tag("team/app", f"v{i}", i, i) for i in range(1, 5)]
    plan = plan_prune(tags, [RetentionRule("team/app", keep=3), RetentionRule("team/*", keep=1)])
    assert plan.deleted_refs == ["team/app:v1"]


def test_protected_in_use_and_undated_tags_are_kept_and_do_not_count_towards_keep() -> None:
    tags = [tag("app", "latest", 1, 1), tag("app", "v2", 2, 2), tag("app", "v3", 3, 3), tag("app", "v4", 4, 4),
            tag("app", "old", 5, None), tag("app", "v0", 6, 0)]
    plan = plan_prune(tags, [RetentionRule("app", keep=1)], protected=["latest"],
                      in_use_refs={"app:v2"}, in_use_digests={dg(3)})
    kept = dict(plan.kept)
    assert kept["app:latest"] == "protected tag"
    assert kept["app:v2"].startswith("in use") and kept["app:v3"].startswith("in use")
    assert kept["app:old"].startswith("creation time unknown")
    assert kept["app:v4"].startswith("newest 1 of 1")
    assert plan.deleted_refs == ["app:v0"]


def test_a_candidate_sharing_its_digest_with_a_kept_tag_is_not_deleted() -> None:
    # v1 and stable point at the same manifest: DELETE by digest would remove 'stable' too
    tags = [tag("app", "v1", 1, 1), TagInfo("app", "stable", dg(1), T0, ((dg(1001), 100),), 10),
            tag("app", "v2", 2, 2)]
    plan = plan_prune(tags, [RetentionRule("app", keep=1)], protected=["stable"])
    assert plan.deletions == []
    assert "same digest as a kept tag" in dict(plan.kept)["app:v1"]


def test_two_deleted_tags_of_one_digest_are_one_deletion() -> None:
    tags = [tag("app", "v3", 3, 3), TagInfo("app", "a", dg(1), T0, ((dg(9), 50),), 10),
            TagInfo("app", "b", dg(1), T0, ((dg(9), 50),), 10)]
    plan = plan_prune(tags, [RetentionRule("app", keep=1)])
    assert len(plan.deletions) == 1 and plan.deletions[0].tags == ("a", "b")
    assert plan.estimated_bytes == 50 + 10


def test_shared_layers_are_not_counted_as_freed() -> None:
    base = (dg(500), 1000)
    tags = [TagInfo("app", "v1", dg(1), T0, (base, (dg(501), 10)), 5),
            TagInfo("app", "v2", dg(2), T0 + dt.timedelta(days=1), (base, (dg(502), 20)), 5)]
    plan = plan_prune(tags, [RetentionRule("app", keep=1)])
    assert plan.deleted_refs == ["app:v1"]
    assert plan.estimated_bytes == 10 + 5


def test_keep_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="never delete every tag"):
        RetentionRule("app", keep=0)


def test_images_in_use_only_for_this_registry() -> None:
    refs, digests = image_refs_in_use([
        f"10.250.77.23:5000/powerops/whoami:test@{dg(7)}", "10.250.77.23:5000/app", "docker.io/library/nginx:1",
        "10.250.77.99:5000/app:v1"], "10.250.77.23:5000")
    assert refs == {"powerops/whoami:test", "app:latest"}
    assert digests == {dg(7)}


# garbage-collect --dry-run output recorded from Debian's docker-registry 2.8.2 (stdout) in the lab registry on
# lab-dock3, after one tag was deleted through the API (excerpt: one repository of five marked; the trailing
# space the registry prints after "marking manifest <digest>" is stripped here)
GC_DRY_RUN = """\
gc-test/blob
gc-test/blob: marking manifest sha256:206563607f5aa5409cf4b227e5027202e96cbeb7711c918932a8f9e1722e60b9
gc-test/blob: marking blob sha256:69e303b784f7229e596b73bebe13acd83c8cbd37a6c24f1dd2ee42bea2ece38c
gc-test/blob: marking blob sha256:39827bb1637b4ec1e01305ea9b8aac6917f175c488e5dba11d94ce6488f20090
gc-test/blob: marking manifest sha256:d248a9baf29fb47db7117d681d9d489bec2f3346ae05d61f940dd6bb589f7dda
gc-test/blob: marking blob sha256:0cf2a303fff6e5c1070e359fc3091a75d4e3bba836d445cfd3611e565b727a53
gc-test/blob: marking blob sha256:ae371340de33ca7bd4cf98cbec932445351f336ff19a873c3719d1727eb46457

18 blobs marked, 3 blobs and 0 manifests eligible for deletion
blob eligible for deletion: sha256:61766c86e9a810e042fc69570d1cd11e653454173004a50469a076ac582d5a53
blob eligible for deletion: sha256:7d5ecfe18b0dc7edf67aa9ea1a161c2b9669e0c8c3c37ca83a6907111b03e4fe
blob eligible for deletion: sha256:d4244b5aec7379e564bee6e6f717b20e7add1b43e78290345012fd56acd9d4dc
"""


def test_parse_gc_output() -> None:
    rep = parse_gc_output(GC_DRY_RUN)
    assert (rep.marked, rep.blobs_eligible, rep.manifests_eligible) == (18, 3, 0)
    assert rep.blobs == ("sha256:61766c86e9a810e042fc69570d1cd11e653454173004a50469a076ac582d5a53",
                         "sha256:7d5ecfe18b0dc7edf67aa9ea1a161c2b9669e0c8c3c37ca83a6907111b03e4fe",
                         "sha256:d4244b5aec7379e564bee6e6f717b20e7add1b43e78290345012fd56acd9d4dc")


def test_parse_gc_output_without_summary_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="summary"):
        parse_gc_output("failed to garbage collect: boom")


def test_du_and_argv_and_markdown() -> None:
    assert parse_du_bytes("123456\t/var/lib/registry\n") == 123456
    with pytest.raises(InvalidInput):
        parse_du_bytes("du: cannot access")
    assert gc_argv("/etc/docker/registry/config.yml", True, False) == [
        "/usr/bin/registry", "garbage-collect", "--dry-run", "/etc/docker/registry/config.yml"]
    assert "--delete-untagged" in gc_argv("/c", False, True)
    plan = plan_prune([tag("app", "v1", 1, 1), tag("app", "v2", 2, 2)], [RetentionRule("app", keep=1)])
    md = plan_markdown("reg:5000", plan, parse_gc_output(GC_DRY_RUN), dry_run=True)
    assert "tags to delete: **1**" in md and "| app:v1 |" in md and "dry run" in md


def test_parse_created_of_image_configs() -> None:
    # docker build writes nanoseconds and Z; debootstrap imports have none; some tools write an offset
    assert parse_created("2026-11-25T01:44:02.123456789Z") == dt.datetime(2026, 11, 25, 1, 44, 2, 123456,
                                                                           tzinfo=dt.UTC)
    assert parse_created("2026-11-25T01:44:02Z") == dt.datetime(2026, 11, 25, 1, 44, 2, tzinfo=dt.UTC)
    assert parse_created("2026-11-25T02:44:02.5+01:00") == dt.datetime(2026, 11, 25, 1, 44, 2, 500000,
                                                                       tzinfo=dt.UTC)
    assert parse_created(None) is None and parse_created("yesterday") is None
