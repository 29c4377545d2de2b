"""The mirror stores: local snapshots on a temporary directory, the remote one against a fake SSH connection
that answers only the commands it was told (and in order)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence

import pytest

from core.mirror.deb822 import FileEntry
from core.mirror.plan import MANIFEST, STAMP, Stamp, manifest_to_json
from seams.mirror_store import LocalStore, RemoteStore
from seams.ssh import CommandResult


def put(store: LocalStore, data: bytes) -> FileEntry:
    return FileEntry(len(data), store.put_object(data))


def test_local_snapshot_publish_prune(tmp_path):
    store = LocalStore(tmp_path / "m")
    store.ensure_layout()
    a, b = put(store, b"package a"), put(store, b"package b")
    tree = {"pool/main/a/a.deb": a, "pool/main/b/b.deb": b, "dists/x/Release": put(store, b"Release")}
    stamp = Stamp("apt", "s" * 64, {"x": "u" * 64})
    store.build_snapshot("20260101T000000Z-00000001", tree, manifest_to_json(tree).encode(), stamp.to_json().encode())
    store.publish("20260101T000000Z-00000001")
    cur = tmp_path / "m" / "current"
    assert os.readlink(cur) == "snapshots/20260101T000000Z-00000001"
    assert (cur / "pool/main/a/a.deb").read_bytes() == b"package a"
    assert os.stat(cur / "pool/main/a/a.deb").st_nlink == 2  # a hard link into the pool
    assert Stamp.from_json(store.read_current(STAMP) or b"") == stamp
    assert store.current_manifest() == tree

    # second snapshot without b: after pruning, b's pool object is garbage
    tree2 = {k: v for k, v in tree.items() if "b.deb" not in k}
    store.build_snapshot("20260102T000000Z-00000002", tree2, manifest_to_json(tree2).encode(), stamp.to_json().encode())
    store.publish("20260102T000000Z-00000002")
    assert store.remove_snapshots(["20260101T000000Z-00000001"]) == 1
    files, nbytes = store.gc_pool()
    assert files == 1 and nbytes == len(b"package b")
    assert b.sha256 not in store.pool_present() and a.sha256 in store.pool_present()


def test_local_verify_objects_drops_corrupt(tmp_path):
    store = LocalStore(tmp_path / "m")
    store.ensure_layout()
    a = put(store, b"good")
    store.object_path(a.sha256).write_bytes(b"evil")
    assert store.verify_objects({"x": a}) == [a.sha256]
    assert not store.object_path(a.sha256).exists()


def test_tar_stream_unpacks_to_the_same_tree(tmp_path):
    local = LocalStore(tmp_path / "local")
    local.ensure_layout()
    a = put(local, b"a" * 5000)
    tree = {"pool/a.deb": a, "pool/again/a.deb": a}
    stamp = Stamp("apt", "s" * 64, {})
    local.build_snapshot("20260101T000000Z-00000001", tree, manifest_to_json(tree).encode(), stamp.to_json().encode())
    data = b"".join(local.tar_stream("20260101T000000Z-00000001", tree, [a.sha256]))
    remote = tmp_path / "remote"
    remote.mkdir()
    subprocess.run(["tar", "-x", "--no-same-owner", "-C", str(remote), "-f", "-"], input=data, check=True)
    snap = remote / "snapshots/20260101T000000Z-00000001"
    assert hashlib.sha256((snap / "pool/again/a.deb").read_bytes()).hexdigest() == a.sha256
    assert os.stat(snap / "pool/a.deb").st_nlink == 3  # pool object + two tree paths
    assert (snap / MANIFEST).exists() and (snap / STAMP).exists()


class FakeConn:
    """Answers only the declared commands, in order; anything else fails the test."""

    host = "mirror1"

    def __init__(self, script: list[tuple[list[str], str, int]]) -> None:
        self.script = list(script)

    def run(self, argv: Sequence[str], *, check: bool = True, **_: object) -> CommandResult:
        assert self.script, f"undeclared command {list(argv)}"
        want, out, rc = self.script.pop(0)
        assert list(argv) == want, f"expected {want}, got {list(argv)}"
        return CommandResult(self.host, " ".join(argv), out, "", rc)


def test_remote_store_commands():
    conn = FakeConn([
        (["ln", "-sfn", "snapshots/S1", "/srv/m/.current-S1"], "", 0),
        (["mv", "-T", "/srv/m/.current-S1", "/srv/m/current"], "", 0),
        (["find", "/srv/m/.pool/sha256", "-type", "f", "-links", "1", "-printf", "%s\\n", "-delete"], "10\n32\n", 0),
        (["rm", "-rf", "--", "/srv/m/snapshots/S0"], "", 0),
        (["readlink", "/srv/m/current"], "snapshots/S1\n", 0),
    ])
    store = RemoteStore(conn, "/srv/m/")  # type: ignore[arg-type]
    store.publish("S1")
    assert store.gc_pool() == (2, 42)
    assert store.remove_snapshots(["S0", "../etc"]) == 1
    assert store.current_snapshot() == "S1"
    assert conn.script == []


@pytest.mark.parametrize("root", ["relative/path", "/", ""])
def test_remote_store_refuses_bad_roots(root):
    with pytest.raises(Exception, match="absolute"):
        RemoteStore(FakeConn([]), root)  # type: ignore[arg-type]


def test_snapshot_staged_while_downloading(tmp_path):
    """Files a download wrote into the staging dir (hard links of their pool objects) are kept; the rest is
    linked; staging left by an interrupted run is removed first."""
    store = LocalStore(tmp_path / "m")
    store.ensure_layout()
    stale = store.staging_dir("20260101T000000Z-00000001")
    (stale / "pool").mkdir(parents=True)
    (stale / "pool" / "half.deb").write_bytes(b"half")
    sid = "20260103T000000Z-00000003"
    work = store.prepare_snapshot(sid)
    assert not stale.exists() and work.is_dir() and not list(work.iterdir())

    old = put(store, b"already in the pool")
    new_data = b"downloaded into the staging tree"
    new = FileEntry(len(new_data), hashlib.sha256(new_data).hexdigest())
    (work / "pool/main/n").mkdir(parents=True)
    (work / "pool/main/n/new.deb").write_bytes(new_data)
    os.link(work / "pool/main/n/new.deb", store.object_path(new.sha256))  # what the fetcher does
    tree = {"pool/main/n/new.deb": new, "pool/main/o/old.deb": old, "pool/main/n/same-as-new.deb": new}
    stamp = Stamp("apt", "s" * 64, {"x": "u" * 64})
    final = store.build_snapshot(sid, tree, manifest_to_json(tree).encode(), stamp.to_json().encode())
    assert not work.exists() and final.is_dir()
    for path, entry in tree.items():
        assert os.path.samefile(final / path, store.object_path(entry.sha256)), path
    assert (final / "pool/main/o/old.deb").read_bytes() == b"already in the pool"

    # without staging nothing is expected in the way: a path that is both a file and a directory is an error
    sid2 = "20260104T000000Z-00000004"
    with pytest.raises(FileExistsError):
        store.build_snapshot(sid2, {"a": old, "a/b": old}, b"{}", stamp.to_json().encode())
