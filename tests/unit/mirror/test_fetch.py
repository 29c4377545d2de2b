"""The pipelined keep-alive fetcher (seams.mirror_fetch) against a scripted fake server: no sockets.

The fake answers each GET it is sent, in order, as a static file server does, and hands its bytes back in
small pieces so that every response boundary falls somewhere inside a read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from seams import mirror_fetch
from seams.mirror_fetch import Job, Result, Upstream, fetch_all


@dataclass
class Server:
    files: dict[str, bytes]
    special: dict[str, bytes] = field(default_factory=dict)  # path -> raw response (status/framing tests)
    keepalive_limit: int = 0  # answer this many requests per connection, the last with Connection: close
    drop_in_body: str = ""  # path whose body is cut off (connection lost mid-file)
    refuse: int = 0  # connection attempts refused before one succeeds
    piece: int = 7  # bytes per read
    connections: int = 0
    requests: list[str] = field(default_factory=list)

    def response(self, path: str, last: bool) -> tuple[bytes, bool]:
        """(raw response, connection ends after it)."""
        if path in self.special:
            return self.special[path], False
        if path not in self.files:
            body = b"<html>404</html>"
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(body) + body, False
        body = self.files[path]
        head = b"HTTP/1.1 200 OK\r\nServer: fake\r\nContent-Type: application/octet-stream\r\n"
        head += b"Content-Length: %d\r\n" % len(body)
        if last:
            head += b"Connection: close\r\n"
        if path == self.drop_in_body:
            return head + b"\r\n" + body[: len(body) // 2], True
        return head + b"\r\n" + body, last


class FakeSocket:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.out = bytearray()
        self.answered = 0
        self.eof = False
        self.pending = b""

    def sendall(self, data: bytes) -> None:
        self.pending += data
        while b"\r\n\r\n" in self.pending:
            req, self.pending = self.pending.split(b"\r\n\r\n", 1)
            line = req.split(b"\r\n", 1)[0].decode()
            assert line.startswith("GET /repo/") and line.endswith(" HTTP/1.1"), line
            assert b"\r\nHost: mirror.test\r\n" in req + b"\r\n"
            if self.eof:
                continue  # the server has closed: requests after that are never answered
            path = line.split()[1][len("/repo/"):]
            self.server.requests.append(path)
            self.answered += 1
            last = bool(self.server.keepalive_limit) and self.answered >= self.server.keepalive_limit
            raw, ends = self.server.response(path, last)
            self.out += raw
            self.eof = ends

    def recv(self, n: int) -> bytes:
        if not self.out:
            assert self.eof, "the client waits for an answer to a request it never sent"
            return b""
        take = min(n, self.server.piece, len(self.out))
        data = bytes(self.out[:take])
        del self.out[:take]
        return data

    def recv_into(self, buf: memoryview, n: int) -> int:
        data = self.recv(n)
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    srv = Server(files={})

    def open_socket(up: Upstream) -> FakeSocket:
        srv.connections += 1
        if srv.refuse:
            srv.refuse -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return FakeSocket(srv)

    monkeypatch.setattr(mirror_fetch, "open_socket", open_socket)
    monkeypatch.setattr(mirror_fetch.time, "sleep", lambda s: None)
    return srv


def jobs_for(tmp: Path, files: dict[str, bytes], stage: Path | None = None) -> list[Job]:
    (tmp / "pool").mkdir(exist_ok=True)
    (tmp / "partial").mkdir(exist_ok=True)
    out = []
    for path, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        out.append(Job(path, len(data), digest, str(tmp / "pool" / digest), str(tmp / "partial" / digest),
                       str(stage / path) if stage else ""))
    return out


def run(jobs: list[Job], **kw: int) -> dict[str, Result]:
    got: list[Result] = []
    fetch_all(Upstream("http://mirror.test/repo/"), jobs, got.append, **kw)
    assert len(got) == len(jobs)
    return {r.path: r for r in got}


def content(i: int) -> bytes:
    return (b"deb %d " % i) * (i % 13 + 1)


def test_pipelined_responses_split_anywhere(server: Server, tmp_path: Path) -> None:
    server.files = {f"pool/main/p/p{i}/p{i}_1.0_ppc64el.deb": content(i) for i in range(40)}
    res = run(jobs_for(tmp_path, server.files), connections=1, depth=6)
    assert all(r.ok for r in res.values())
    assert server.connections == 1 and len(server.requests) == 40
    for path, data in server.files.items():
        assert (tmp_path / "pool" / hashlib.sha256(data).hexdigest()).read_bytes() == data
        assert res[path].nbytes == len(data)
    assert not list((tmp_path / "partial").iterdir())  # temporary files renamed into place


def test_keepalive_limit_reconnects_and_resends(server: Server, tmp_path: Path) -> None:
    server.files = {f"f{i}": content(i) for i in range(25)}
    server.keepalive_limit = 4  # the 4th answer says Connection: close; pipelined requests after it are lost
    res = run(jobs_for(tmp_path, server.files), connections=1, depth=8)
    assert all(r.ok for r in res.values()), [r for r in res.values() if not r.ok]
    assert server.connections == 7  # ceil(25 / 4)
    assert sorted(set(server.requests)) == sorted(server.files)


def test_statuses_and_framing(server: Server, tmp_path: Path) -> None:
    server.files = {"a": b"alpha", "b": b"bravo", "c": b"charlie"}
    server.special = {
        "moved": b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://elsewhere/x\r\nContent-Length: 0\r\n\r\n",
        "boom": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
        "chunky": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    }
    jobs = jobs_for(tmp_path, {**server.files, "missing": b"x", "moved": b"m", "boom": b"b"})
    jobs += jobs_for(tmp_path, {"chunky": b"hello"})
    res = run(jobs, connections=1, depth=3)
    assert res["a"].ok and res["b"].ok and res["c"].ok
    assert res["missing"].missing and res["missing"].error == "HTTP 404" and not res["missing"].fallback
    assert res["moved"].fallback and res["boom"].fallback  # httpx follows redirects and names server errors
    assert res["chunky"].fallback  # not a framing this fetcher reads: the careful path does
    assert (tmp_path / "pool" / hashlib.sha256(b"charlie").hexdigest()).read_bytes() == b"charlie"


def test_checksum_and_size_mismatch(server: Server, tmp_path: Path) -> None:
    server.files = {"good": b"good data", "evil": b"evil data", "short": b"abc"}
    jobs = jobs_for(tmp_path, {"good": b"good data", "evil": b"EVIL DATA", "short": b"abcd"})
    res = run(jobs, connections=1, depth=4)
    assert res["good"].ok
    assert not res["evil"].ok and "evil: checksum mismatch (index says sha256" in res["evil"].error
    assert not res["short"].ok and "index says 4 bytes, got 3 bytes" in res["short"].error
    assert not (tmp_path / "pool" / jobs[1].sha256).exists() and not (tmp_path / "pool" / jobs[2].sha256).exists()


def test_large_bodies_stream_through_partial(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_fetch, "SMALL", 64)
    big = os.urandom(5000)
    server.files = {"big": big, "tiny": b"t"}
    server.piece = 333
    res = run(jobs_for(tmp_path, server.files), connections=1, depth=2)
    assert res["big"].ok and res["big"].nbytes == 5000
    assert (tmp_path / "pool" / hashlib.sha256(big).hexdigest()).read_bytes() == big


def test_lost_mid_body_goes_to_the_careful_path_and_keeps_the_partial(
        server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_fetch, "SMALL", 64)
    big = os.urandom(4000)
    server.files = {"x1": b"one", "big": big, "x2": b"two", "x3": b"three"}
    server.drop_in_body = "big"
    jobs = jobs_for(tmp_path, server.files)
    res = run(jobs, connections=1, depth=4)
    assert res["big"].fallback and "closed" in res["big"].error
    assert res["x1"].ok and res["x2"].ok and res["x3"].ok  # re-sent on a new connection
    partial = Path(jobs[1].partial)
    assert 0 < partial.stat().st_size < len(big)  # kept: seams.mirror_http.download resumes it with Range


def test_small_files_staged_into_the_snapshot(server: Server, tmp_path: Path) -> None:
    server.files = {"pool/main/a/a/a.deb": b"A" * 10, "pool/main/b/b/b.deb": b"B" * 20}
    stage = tmp_path / "snapshots" / ".sid.building"
    res = run(jobs_for(tmp_path, server.files, stage=stage), connections=2, depth=2)
    assert all(r.ok for r in res.values())
    for path, data in server.files.items():
        pooled = tmp_path / "pool" / hashlib.sha256(data).hexdigest()
        assert (stage / path).read_bytes() == data
        assert os.path.samefile(stage / path, pooled)  # one inode: the snapshot needs no extra link


def test_unreachable_upstream_hands_everything_to_the_careful_path(server: Server, tmp_path: Path) -> None:
    server.files = {f"f{i}": b"x%d" % i for i in range(5)}
    server.refuse = 100
    res = run(jobs_for(tmp_path, server.files), connections=2, depth=2)
    assert all(r.fallback and not r.ok for r in res.values())
    assert server.connections <= 6  # a few tries per connection, not one per file


def test_refused_once_then_served(server: Server, tmp_path: Path) -> None:
    server.files = {f"f{i}": b"x%d" % i for i in range(5)}
    server.refuse = 1
    res = run(jobs_for(tmp_path, server.files), connections=1, depth=2)
    assert all(r.ok for r in res.values())


def test_request_targets_are_quoted_and_prefixed() -> None:
    up = Upstream("http://mirror.test:8080/ubuntu-ports")
    req = up.request("pool/main/g/g++-12/g++-12_12.3.0-1~deb12u1_ppc64el.deb").decode()
    assert req.startswith("GET /ubuntu-ports/pool/main/g/g++-12/g++-12_12.3.0-1~deb12u1_ppc64el.deb HTTP/1.1\r\n")
    assert "\r\nHost: mirror.test:8080\r\n" in req
    assert Upstream("https://h/x/").request("a b").startswith(b"GET /x/a%20b HTTP/1.1")
    with pytest.raises(ValueError, match="not an http"):
        Upstream("ftp://h/x")


@pytest.mark.parametrize("size", [8192 * 2, 8192 * 3 + 17, 4095, 100])
def test_large_bodies_span_several_aligned_buffers(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   size: int) -> None:
    monkeypatch.setattr(mirror_fetch, "SMALL", 64)
    monkeypatch.setattr(mirror_fetch, "_BIG_BUF", 8192)  # whole-buffer writes happen several times per file
    big = os.urandom(size)
    server.files = {"big": big, "after": b"next"}
    server.piece = 3000  # reads end anywhere inside a buffer
    res = run(jobs_for(tmp_path, server.files), connections=1, depth=2)
    assert res["big"].ok and res["after"].ok
    assert (tmp_path / "pool" / hashlib.sha256(big).hexdigest()).read_bytes() == big


def _aligned(data: bytes) -> memoryview:
    import mmap

    buf = mmap.mmap(-1, max(len(data), 1))
    buf[:len(data)] = data
    return memoryview(buf)[:len(data)]


def test_file_writer_uses_direct_io_for_whole_buffers_and_the_page_cache_for_the_tail(tmp_path: Path) -> None:
    import fcntl

    if not mirror_fetch.O_DIRECT:
        pytest.skip("no O_DIRECT on this platform")
    path = tmp_path / "f"
    w = mirror_fetch._FileWriter(str(path))
    if not w.direct:
        w.close()
        pytest.skip(f"{tmp_path} refuses O_DIRECT")
    blocks = [os.urandom(8192), os.urandom(8192), os.urandom(5000)]
    w.write(_aligned(blocks[0]))
    w.write(_aligned(blocks[1]))
    assert w.direct and fcntl.fcntl(w.fd, fcntl.F_GETFL) & mirror_fetch.O_DIRECT
    w.write(_aligned(blocks[2]))  # 4096 direct, 904 buffered
    assert not w.direct and not fcntl.fcntl(w.fd, fcntl.F_GETFL) & mirror_fetch.O_DIRECT
    w.close()
    assert path.read_bytes() == b"".join(blocks)


def test_file_writer_falls_back_when_the_filesystem_refuses_direct_io(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    real_open, real_write = os.open, os.write

    def no_direct_open(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & mirror_fetch.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(mirror_fetch.os, "open", no_direct_open)
    data = os.urandom(8192 + 10)
    w = mirror_fetch._FileWriter(str(tmp_path / "a"))
    assert not w.direct
    w.write(_aligned(data))
    w.close()
    assert (tmp_path / "a").read_bytes() == data

    monkeypatch.setattr(mirror_fetch.os, "open", real_open)
    calls = []

    def refusing_write(fd: int, buf: memoryview) -> int:  # open accepted O_DIRECT, the first write does not
        calls.append(len(buf))
        if len(calls) == 1:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, buf)

    monkeypatch.setattr(mirror_fetch.os, "write", refusing_write)
    w = mirror_fetch._FileWriter(str(tmp_path / "b"))
    w.direct = bool(mirror_fetch.O_DIRECT)  # as if the open had succeeded with O_DIRECT
    w.write(_aligned(data[:8192]))
    w.write(_aligned(data[8192:]))
    w.close()
    assert (tmp_path / "b").read_bytes() == data and not w.direct
    with pytest.raises(OSError, match="No space"):
        monkeypatch.setattr(mirror_fetch.os, "write", lambda fd, buf: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device")))
        w = mirror_fetch._FileWriter(str(tmp_path / "c"))
        try:
            w.write(_aligned(data))
        finally:
            w.close()


def test_direct_io_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_fetch, "DIRECT_IO", False)
    w = mirror_fetch._FileWriter(str(tmp_path / "f"))
    assert not w.direct
    w.close()


def test_a_local_write_error_still_answers_every_job(server: Server, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk (or any local error) while storing one file: that file goes to the careful path with the
    error named, the others are still fetched; nothing is left without an answer."""
    import errno

    monkeypatch.setattr(mirror_fetch, "SMALL", 64)
    real = mirror_fetch._FileWriter.write
    big, other = os.urandom(5000), os.urandom(6000)

    def full_once(self: mirror_fetch._FileWriter, data: memoryview) -> None:
        if not getattr(full_once, "done", False):
            full_once.done = True  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, data)

    monkeypatch.setattr(mirror_fetch._FileWriter, "write", full_once)
    server.files = {"a": b"one", "big": big, "b": b"two", "other": other}
    res = run(jobs_for(tmp_path, server.files), connections=1, depth=4)
    assert set(res) == set(server.files)
    assert res["big"].fallback and "No space left on device" in res["big"].error
    assert res["a"].ok and res["b"].ok and res["other"].ok
    assert (tmp_path / "pool" / hashlib.sha256(other).hexdigest()).read_bytes() == other


@pytest.mark.parametrize(("rmem_max", "expected"), [("212992\n", 0), ("4194304\n", 4 << 20), ("33554432", 4 << 20),
                                                     (None, 0)])
def test_receive_buffer_only_where_the_kernel_allows_it(monkeypatch: pytest.MonkeyPatch, rmem_max: str | None,
                                                        expected: int) -> None:
    real = Path.read_text

    def fake(self: Path, *a: object, **k: object) -> str:
        if str(self) == "/proc/sys/net/core/rmem_max":
            if rmem_max is None:
                raise PermissionError("no /proc here")
            return rmem_max
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", fake)
    mirror_fetch._receive_buffer.cache_clear()
    try:
        assert mirror_fetch._receive_buffer() == expected
    finally:
        mirror_fetch._receive_buffer.cache_clear()


def test_open_socket_sets_the_receive_buffer_on_a_real_connection() -> None:
    import socket

    mirror_fetch._receive_buffer.cache_clear()
    want = mirror_fetch._receive_buffer()
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
        sock = mirror_fetch.open_socket(Upstream(f"http://127.0.0.1:{port}/repo/"))
        try:
            got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            assert got >= want  # Linux reports twice the size asked for (bookkeeping overhead)
            if want:
                assert got >= 2 * want
        finally:
            sock.close()
