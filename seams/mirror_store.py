"""Where mirrors live: a local directory, or a directory on a mirror host reached over SSH.

Layout and rules are in ``core/mirror/plan.py``. Both stores publish by switching the ``current`` symlink
with rename(2) (``mv -T`` on the remote side), so a client sees the old tree or the new one, never a mix.
The remote store is filled from a local one (the worker's cache) by streaming one tar: new pool objects as
files, the snapshot tree as hard links into the pool; only ``tar``, ``find``, ``ln``, ``mv``, ``rm`` and
``mkdir`` are needed on the mirror host.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from core.mirror.deb822 import FileEntry
from core.mirror.errors import MirrorError
from core.mirror.plan import MANIFEST, STAMP, manifest_from_json, pool_path
from seams.ssh import SshConnection

_HEX = "0123456789abcdef"


class LocalStore:
    """A mirror destination on the local filesystem."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def label(self) -> str:
        return str(self.root)

    def ensure_layout(self) -> None:
        for d in (self.root, self.root / "snapshots", self.root / ".pool" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)  # noqa: S103 - served by the web server
        base = self.root / ".pool" / "sha256"
        base.mkdir(exist_ok=True)
        for a in _HEX:
            for b in _HEX:
                (base / f"{a}{b}").mkdir(exist_ok=True)

    # -- reading the published state --------------------------------------------------------------------
    def current_snapshot(self) -> str | None:
        link = self.root / "current"
        if not link.is_symlink():
            return None
        return os.readlink(link).rsplit("/", 1)[-1]

    def read_current(self, name: str) -> bytes | None:
        try:
            return (self.root / "current" / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def current_manifest(self) -> dict[str, FileEntry] | None:
        data = self.read_current(MANIFEST)
        return manifest_from_json(data) if data is not None else None

    def snapshots(self) -> list[str]:
        d = self.root / "snapshots"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []

    # -- pool -------------------------------------------------------------------------------------------
    def pool_present(self) -> set[str]:
        out: set[str] = set()
        base = self.root / ".pool" / "sha256"
        if not base.is_dir():
            return out
        for sub in os.scandir(base):
            if sub.is_dir():
                out.update(e.name for e in os.scandir(sub.path))
        return out

    def object_path(self, sha256: str) -> Path:
        return self.root / pool_path(sha256)

    def partial_path(self, sha256: str) -> Path:
        return self.root / ".pool" / "partial" / sha256

    def put_object(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self.object_path(digest)
        if not final.exists():
            tmp = self.partial_path(digest).with_suffix(".w")
            tmp.write_bytes(data)
            os.replace(tmp, final)
        return digest

    def read_object(self, sha256: str) -> bytes:
        return self.object_path(sha256).read_bytes()

    def verify_objects(self, wanted: Mapping[str, FileEntry]) -> list[str]:
        """Hash every pool object the tree uses; corrupt ones are removed. Returns the removed digests."""
        bad: list[str] = []
        for digest in sorted({e.sha256 for e in wanted.values()}):
            p = self.object_path(digest)
            if not p.exists():
                continue
            h = hashlib.sha256()
            with p.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != digest:
                p.unlink()
                bad.append(digest)
        return bad

    # -- snapshots --------------------------------------------------------------------------------------
    def staging_dir(self, sid: str) -> Path:
        return self.root / "snapshots" / f".{sid}.building"

    def prepare_snapshot(self, sid: str) -> Path:
        """An empty staging directory for snapshot ``sid``; staging left by interrupted runs is removed.

        Downloads may write verified files straight into it (and link them into the pool);
        ``build_snapshot`` then links everything else. Nothing in it is visible to clients.
        """
        snaps = self.root / "snapshots"
        snaps.mkdir(parents=True, exist_ok=True)
        for e in os.scandir(snaps):
            if e.name.startswith(".") and e.name.endswith(".building"):
                shutil.rmtree(e.path, ignore_errors=True)
        work = self.staging_dir(sid)
        work.mkdir(mode=0o755)
        return work

    def build_snapshot(self, sid: str, tree: Mapping[str, FileEntry], manifest: bytes, stamp: bytes) -> Path:
        """A complete tree of hard links into the pool, plus the manifest and the stamp.

        Files already in the staging directory (written there by this run's downloads, each one a hard
        link of its pool object) are kept.
        """
        final = self.root / "snapshots" / sid
        work = self.staging_dir(sid)
        staged = work.is_dir()
        if not staged:
            work.mkdir(mode=0o755)
        made: set[str] = {""}
        base, pool = f"{work}/", f"{self.root}/"
        for path, entry in sorted(tree.items()):
            directory = path.rpartition("/")[0]
            if directory not in made:
                missing = []
                d = directory
                while d not in made:
                    missing.append(d)
                    d = d.rpartition("/")[0]
                for m in reversed(missing):
                    try:
                        os.mkdir(base + m)
                    except FileExistsError:
                        if not staged:
                            raise
                    made.add(m)
            try:
                os.link(pool + pool_path(entry.sha256), base + path)
            except FileNotFoundError:
                raise MirrorError(f"{self.label}: pool object {entry.sha256} for {path} is missing") from None
            except FileExistsError:
                if not staged:
                    raise
        (work / MANIFEST).write_bytes(manifest)
        (work / STAMP).write_bytes(stamp)
        os.chmod(work, 0o755)  # noqa: S103 - served by the web server
        os.rename(work, final)
        return final

    def publish(self, sid: str) -> None:
        """Switch ``current`` to ``snapshots/<sid>`` with one rename(2)."""
        tmp = self.root / f".current-{sid}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"snapshots/{sid}", tmp)
        os.replace(tmp, self.root / "current")

    def remove_snapshots(self, sids: Iterable[str]) -> int:
        n = 0
        for sid in sids:
            if sid and "/" not in sid and sid != self.current_snapshot():
                shutil.rmtree(self.root / "snapshots" / sid, ignore_errors=True)
                n += 1
        return n

    def gc_pool(self) -> tuple[int, int]:
        """Remove pool objects no snapshot links to (link count 1) and stale partial files."""
        n = nbytes = 0
        base = self.root / ".pool" / "sha256"
        for sub in os.scandir(base):
            for e in os.scandir(sub.path):
                st = e.stat(follow_symlinks=False)
                if st.st_nlink == 1:
                    os.unlink(e.path)
                    n += 1
                    nbytes += st.st_size
        for e in os.scandir(self.root / ".pool" / "partial"):
            if e.name.endswith((".s", ".w")):
                os.unlink(e.path)
        return n, nbytes

    def tar_stream(self, sid: str, tree: Mapping[str, FileEntry], objects: Iterable[str],
                   chunk: int = 1 << 20) -> Iterator[bytes]:
        """A tar of ``objects`` (pool files) and of snapshot ``sid`` as hard links into the pool."""
        sink = _ChunkSink()
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT, bufsize=chunk) as tf:
            for digest in sorted(set(objects)):
                p = self.object_path(digest)
                ti = tf.gettarinfo(str(p), arcname=pool_path(digest))
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = "root"
                ti.mode = 0o644
                with p.open("rb") as fh:
                    tf.addfile(ti, fh)
                yield from sink.take()
            now = int(time.time())
            for path, entry in sorted(tree.items()):
                ti = tarfile.TarInfo(f"snapshots/{sid}/{path}")
                ti.type, ti.linkname, ti.mtime, ti.mode = tarfile.LNKTYPE, pool_path(entry.sha256), now, 0o644
                tf.addfile(ti)
                yield from sink.take()
            for name in (MANIFEST, STAMP):
                data = (self.root / "snapshots" / sid / name).read_bytes()
                ti = tarfile.TarInfo(f"snapshots/{sid}/{name}")
                ti.size, ti.mtime, ti.mode = len(data), now, 0o644
                tf.addfile(ti, io.BytesIO(data))
                yield from sink.take()
        yield from sink.take()


class _ChunkSink(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.buf += b
        return len(b)

    def take(self) -> Iterator[bytes]:
        if self.buf:
            data, self.buf = bytes(self.buf), bytearray()
            yield data


class RemoteStore:
    """A mirror destination on a mirror host, reached through the SSH seam."""

    def __init__(self, conn: SshConnection, root: str) -> None:
        if not root.startswith("/") or root.rstrip("/") in ("", "/"):
            raise MirrorError(f"remote mirror directory must be an absolute path below /, got {root!r}")
        self.conn = conn
        self.root = root.rstrip("/")

    @property
    def label(self) -> str:
        return f"{self.conn.host}:{self.root}"

    def ensure_layout(self) -> None:
        self.conn.run(["mkdir", "-p", f"{self.root}/snapshots", f"{self.root}/.pool/sha256"])

    def read_current(self, name: str) -> bytes | None:
        return self.conn.read_file(f"{self.root}/current/{name}")

    def current_snapshot(self) -> str | None:
        res = self.conn.run(["readlink", f"{self.root}/current"], check=False)
        return res.stdout.strip().rsplit("/", 1)[-1] if res.ok and res.stdout.strip() else None

    def snapshots(self) -> list[str]:
        res = self.conn.run(["ls", "-1", f"{self.root}/snapshots"], check=False)
        return sorted(res.stdout.split()) if res.ok else []

    def pool_present(self) -> set[str]:
        res = self.conn.run(["find", f"{self.root}/.pool/sha256", "-type", "f", "-printf", "%f\\n"], check=False)
        return set(res.stdout.split()) if res.ok else set()

    def push(self, chunks: Iterable[bytes]) -> int:
        """Stream a tar into ``tar -x`` on the mirror host; returns the bytes sent."""
        argv = ["tar", "-x", "--no-same-owner", "-C", self.root, "-f", "-"]
        chan = self.conn.open_exec_channel(argv)
        sent = 0
        try:
            for chunk in chunks:
                chan.sendall(chunk)
                sent += len(chunk)
            chan.shutdown_write()
            err = bytearray()
            while True:
                data = chan.recv_stderr(65536)
                if not data:
                    break
                err += data
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        if rc != 0:
            raise MirrorError(f"{self.label}: unpacking the snapshot failed (tar exited {rc}): "
                              f"{err.decode(errors='replace').strip()[-500:]}")
        return sent

    def publish(self, sid: str) -> None:
        tmp = f"{self.root}/.current-{sid}"
        self.conn.run(["ln", "-sfn", f"snapshots/{sid}", tmp])
        self.conn.run(["mv", "-T", tmp, f"{self.root}/current"])

    def remove_snapshots(self, sids: Iterable[str]) -> int:
        paths = [f"{self.root}/snapshots/{s}" for s in sids if s and "/" not in s]
        if paths:
            self.conn.run(["rm", "-rf", "--", *paths])
        return len(paths)

    def gc_pool(self) -> tuple[int, int]:
        res = self.conn.run(["find", f"{self.root}/.pool/sha256", "-type", "f", "-links", "1",
                             "-printf", "%s\\n", "-delete"], check=False)
        sizes = [int(x) for x in res.stdout.split() if x.isdigit()]
        return len(sizes), sum(sizes)
