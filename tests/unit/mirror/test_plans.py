"""Index selection, package sets, sync plans and snapshot pruning (pure)."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from core.mirror.apt import AptSpec, by_hash_aliases, package_files, select_index_files
from core.mirror.deb822 import FileEntry, parse_release
from core.mirror.errors import IndexMissing, MalformedIndex
from core.mirror.plan import (
    Stamp,
    manifest_from_json,
    manifest_to_json,
    plan_sync,
    pool_path,
    snapshot_id,
    snapshots_to_prune,
    spec_digest,
)


def E(n: int, c: str) -> FileEntry:  # noqa: N802
    return FileEntry(n, c * 64)


def test_select_index_files_for_ppc64el(fixtures):
    rel = parse_release((fixtures / "apt" / "Release").read_text())
    files = select_index_files(rel, "bookworm", AptSpec(("bookworm",)))
    paths = [f.path for f in files]
    assert paths == [f"dists/bookworm/main/binary-ppc64el/{n}" for n in
                     ("Packages", "Packages.gz", "Packages.xz", "Release")]
    assert {f.kind for f in files} == {"packages", "other"}
    assert all(f.sha512 for f in files)
    aliases = by_hash_aliases(files)
    assert len(aliases) == 8 and all("/by-hash/SHA" in p for p in aliases)


def test_select_refuses_an_architecture_the_release_lacks(fixtures):
    rel = parse_release((fixtures / "apt" / "Release").read_text())
    with pytest.raises(IndexMissing, match="main/binary-s390x"):
        select_index_files(rel, "bookworm", AptSpec(("bookworm",), architectures=("s390x",)))


def test_spec_validation():
    with pytest.raises(MalformedIndex):
        AptSpec(())
    with pytest.raises(Exception, match="suite"):
        AptSpec(("bad suite",))
    with pytest.raises(MalformedIndex):
        AptSpec(("xenial",), components=("main;rm",))


def test_package_files_from_compressed_index(fixtures):
    rel = parse_release((fixtures / "apt" / "Release").read_text())
    files = select_index_files(rel, "bookworm", AptSpec(("bookworm",)))
    raw = (fixtures / "apt" / "Packages-ppc64el").read_bytes()
    fetched = {"dists/bookworm/main/binary-ppc64el/Packages.gz": gzip.compress(raw)}
    pool = package_files(fetched, files)
    assert len(pool) == 5
    assert pool["pool/main/p/powerops-hello/powerops-hello_1.0_ppc64el.deb"].size == 764
    with pytest.raises(IndexMissing, match="main/binary-ppc64el"):
        package_files({}, files)


def test_plan_sync_downloads_only_what_the_pool_lacks():
    wanted = {"a.deb": E(1, "a"), "b.deb": E(2, "b"), "b-copy.deb": E(2, "b"), "c.deb": E(3, "c")}
    current = {"a.deb": E(1, "a"), "old.deb": E(9, "9"), "c.deb": E(3, "d")}
    plan = plan_sync(wanted, {"a" * 64}, current)
    assert [d.path for d in plan.downloads] == ["b-copy.deb", "c.deb"]  # each content once
    assert plan.reused_files == 1 and plan.reused_bytes == 1
    assert plan.added == ("b-copy.deb", "b.deb") and plan.removed == ("old.deb",) and plan.changed == ("c.deb",)
    assert plan.summary()["to download"] == 2 and plan.download_bytes == 5


def test_plan_sync_converged_plans_nothing():
    wanted = {"a.deb": E(1, "a")}
    plan = plan_sync(wanted, {"a" * 64}, wanted)
    assert plan.downloads == () and plan.added == () and plan.removed == ()


def test_snapshots_and_stamps():
    sid = snapshot_id("20261124T223000Z", "ab" * 32)
    assert sid == "20261124T223000Z-abababab"
    with pytest.raises(MalformedIndex):
        snapshot_id("today", "ab" * 32)
    snaps = ["20260101T000000Z-00000001", "20260102T000000Z-00000002", "20260103T000000Z-00000003", "junk"]
    assert snapshots_to_prune(snaps, "20260103T000000Z-00000003", 2) == ["20260101T000000Z-00000001"]
    # the published snapshot survives even when it is the oldest
    assert snapshots_to_prune(snaps, "20260101T000000Z-00000001", 1) == ["20260102T000000Z-00000002"]
    st = Stamp("apt", spec_digest({"x": 1}), {"bookworm": "f" * 64})
    assert Stamp.from_json(st.to_json()) == st
    assert spec_digest({"a": 1, "b": 2}) == spec_digest({"b": 2, "a": 1})
    with pytest.raises(MalformedIndex):
        Stamp.from_json("{}")


def test_manifest_round_trip_and_pool_path():
    files = {"pool/x.deb": E(5, "e")}
    assert manifest_from_json(manifest_to_json(files)) == files
    digest = hashlib.sha256(b"x").hexdigest()
    assert pool_path(digest) == f".pool/sha256/{digest[:2]}/{digest}"
    with pytest.raises(MalformedIndex):
        pool_path("../../etc")


def test_partial_mirror_by_package_patterns(fixtures):
    rel = parse_release((fixtures / "apt" / "Release").read_text())
    spec = AptSpec(("bookworm",), include_packages=("powerops-*",))
    files = select_index_files(rel, "bookworm", spec)
    raw = (fixtures / "apt" / "Packages-ppc64el").read_bytes()
    pool = package_files({"dists/bookworm/main/binary-ppc64el/Packages": raw}, files, spec)
    assert sorted(p.rsplit("/", 1)[1] for p in pool) == ["powerops-data_1.0_all.deb", "powerops-hello_1.0_ppc64el.deb"]
    assert spec.as_dict()["include_packages"] == ["powerops-*"]
    assert "include_packages" not in AptSpec(("bookworm",)).as_dict()


def test_installer_files_from_sha256sums():
    from core.mirror.apt import IndexFile, installer_files

    path = "dists/xenial/main/installer-ppc64el/current/images/SHA256SUMS"
    files = [IndexFile(path, E(10, "f"), "sha256sums", path)]
    sums = ("a" * 64 + "  ./netboot/vmlinux\n" + "b" * 64 + "  ./netboot/initrd.gz\n").encode()
    out = installer_files({path: sums}, files)
    base = "dists/xenial/main/installer-ppc64el/current/images/netboot"
    assert out == {f"{base}/vmlinux": FileEntry(-1, "a" * 64), f"{base}/initrd.gz": FileEntry(-1, "b" * 64)}
