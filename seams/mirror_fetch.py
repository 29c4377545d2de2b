"""Bulk downloads of the mirrors: HTTP/1.1 keep-alive connections with pipelined GETs, hashed while streaming.

The pool files of a mirror run are many GETs to one upstream. httpx spends ~0.5 ms of CPU per request;
this seam does what apt's own http method does (``Acquire::http::Pipeline-Depth``, 10 by default): it
keeps a connection open, sends the next requests before the previous answers are read, and parses only
what a static file server answers (status line, Content-Length), so a request costs a few tens of
microseconds of Python. Each body is hashed (SHA256) and written while it is received and renamed into
place only when its size and SHA256 match the signed index.

Only the plain case is handled here: 200 with a Content-Length (206 is never asked: files with a partial
download are resumed by ``seams.mirror_http.download``). Anything else (a redirect, a server error, a
chunked or close-delimited body, a connection lost mid-file) is answered ``fallback``: the caller fetches
that file again through ``seams.mirror_http.download`` (httpx), which follows redirects, resumes with Range
and names the error. 404/410 and checksum mismatches are reported here, with the same messages.

``python -m seams.mirror_fetch`` is a download worker process: one JSON header line and one JSON line per
file on stdin, one JSON line per file on stdout (the download task runs one worker per core when there is
enough to fetch; the GIL would otherwise cap a run at one core).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import mmap
import os
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

USER_AGENT = "powerops-mirror/0.1"
SMALL = 1 << 20  # bodies below this are assembled in memory and written in one go
_RECV = 1 << 18  # read size for headers and small bodies
_BIG_BUF = 4 << 20  # buffer of large bodies (recv_into, no copies; x2 per connection); a multiple of _ALIGN
_ALIGN = 4096  # O_DIRECT: buffer address, file offset and length aligned to the device's block size (<= 4 KiB)
O_DIRECT = getattr(os, "O_DIRECT", 0)
_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Job:
    """One file: ``path`` relative to the upstream URL, expected ``size`` (-1: unknown) and ``sha256``."""

    path: str
    size: int
    sha256: str
    final: str  # where the verified file goes (renamed into place)
    partial: str  # where a large file is written while it arrives (kept for a resume if interrupted)
    stage: str = ""  # if set, a small file is written here (a snapshot being staged) and hard-linked to final


@dataclass(frozen=True)
class Result:
    path: str
    ok: bool
    nbytes: int = 0
    error: str = ""
    missing: bool = False  # the upstream answered 404/410
    fallback: bool = False  # not handled here: fetch it through seams.mirror_http.download


class _Lost(Exception):
    """The connection closed or failed; ``started`` tells if a response had begun to arrive."""

    def __init__(self, message: str, started: bool) -> None:
        super().__init__(message)
        self.started = started


class Upstream:
    """Where requests go: scheme, host, port, path prefix, TLS context (``ca_pem``: a private CA)."""

    def __init__(self, base_url: str, ca_pem: str | None = None, timeout: float = 60.0) -> None:
        u = urlsplit(base_url if base_url.endswith("/") else base_url + "/")
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path
        default = self.port == (443 if u.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default else f"{host}:{self.port}"
        self.timeout = timeout
        self.ssl_context: ssl.SSLContext | None = None
        if u.scheme == "https":
            from seams.http import ssl_context

            self.ssl_context = ssl_context(ca_pem)

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def request(self, path: str) -> bytes:
        target = self.prefix + quote(path.lstrip("/"), safe=_SAFE)
        return (f"GET {target} HTTP/1.1\r\nHost: {self.host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
                f"Accept-Encoding: identity\r\n\r\n").encode("latin-1")


_RCVBUF = 4 << 20


@functools.cache
def _receive_buffer() -> int:
    """``_RCVBUF`` if the kernel lets a socket have that much (``net.core.rmem_max``), else 0: a smaller fixed
    buffer would be worse than the kernel's autotuning, which setting one turns off."""
    try:
        rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return 0
    return _RCVBUF if rmem_max >= _RCVBUF else 0


def open_socket(up: Upstream) -> socket.socket:
    """A connected socket to the upstream (TLS verified against its CA for https).

    Its receive buffer is 4 MiB where the kernel allows it: the 1 GB bench download took 0.65-0.71 s instead
    of 0.73-0.92 s with autotuning (less system time: fewer, larger reads)."""
    sock = socket.create_connection((up.host, up.port), timeout=up.timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _receive_buffer():
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _receive_buffer())
        if up.ssl_context is not None:
            return up.ssl_context.wrap_socket(sock, server_hostname=up.host)
    except BaseException:
        sock.close()
        raise
    return sock


class _Connection:
    """One keep-alive connection; responses are read in the order the requests were sent."""

    def __init__(self, up: Upstream) -> None:
        self.sock = open_socket(up)
        self.buf = bytearray()
        self.pos = 0
        # two page-aligned buffers (O_DIRECT needs aligned memory), made on the first large body: one is
        # written to disk by the writer thread while the next is received and hashed
        self.big: list[mmap.mmap] = []
        self.writer: ThreadPoolExecutor | None = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.writer is not None:
            self.writer.shutdown(wait=True)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, started: bool) -> None:
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        try:
            data = self.sock.recv(_RECV)
        except OSError as exc:
            raise _Lost(f"{exc.__class__.__name__}: {exc}", started) from None
        if not data:
            raise _Lost("connection closed by the server", started)
        self.buf += data

    def head(self) -> tuple[int, int, bool, bool]:
        """Status line and headers: (status, content length or -1, chunked, connection close)."""
        while True:
            end = self.buf.find(b"\r\n\r\n", self.pos)
            if end >= 0:
                break
            if len(self.buf) - self.pos > 65536:
                raise _Lost("response headers too large", True)
            self._fill(len(self.buf) > self.pos)
        lines = bytes(self.buf[self.pos:end]).split(b"\r\n")
        self.pos = end + 4
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _Lost(f"not an HTTP/1.x response: {lines[0][:80]!r}", True)
        status = int(parts[1])
        length, chunked = -1, False
        close = parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                v = value.strip()
                if not v.isdigit():
                    raise _Lost(f"bad Content-Length {v[:40]!r}", True)
                length = int(v)
            elif key == b"transfer-encoding":
                chunked = value.strip().lower() != b"identity"
            elif key == b"connection":
                tokens = value.strip().lower()
                if tokens == b"close":
                    close = True
                elif tokens == b"keep-alive":
                    close = False
        return status, length, chunked, close

    def body_bytes(self, length: int) -> bytes:
        while len(self.buf) - self.pos < length:
            self._fill(True)
        data = bytes(self.buf[self.pos:self.pos + length])
        self.pos += length
        return data

    def body_to(self, length: int, out: _FileWriter, h: hashlib._Hash) -> None:  # noqa: SLF001 - hashlib's type
        """Stream ``length`` bytes into ``out``, hashing them; never reads past this response.

        Bytes are received straight into an aligned buffer; a full buffer goes to the writer thread while
        the other one fills (a direct write waits for the disk: receiving, hashing and writing overlap).
        If the connection is lost, what arrived is on disk before the error is raised: the careful path
        resumes it with Range."""
        if not self.big:
            self.big = [mmap.mmap(-1, _BIG_BUF), mmap.mmap(-1, _BIG_BUF)]
            self.writer = ThreadPoolExecutor(1, thread_name_prefix="mirror-write")
        assert self.writer is not None
        views = [memoryview(b) for b in self.big]
        cur, mv, size = 0, views[0], _BIG_BUF
        filled = min(len(self.buf) - self.pos, length)  # already read with the headers (< _RECV)
        if filled:
            mv[:filled] = memoryview(self.buf)[self.pos:self.pos + filled]
            h.update(mv[:filled])
            self.pos += filled
        left = length - filled
        pending: Future[None] | None = None  # the write of the other buffer
        try:
            while left:
                if filled == size:
                    if pending is not None:
                        pending.result()
                    pending = self.writer.submit(out.write, mv)
                    cur ^= 1
                    mv, filled = views[cur], 0
                try:
                    n = self.sock.recv_into(mv[filled:], min(left, size - filled))
                except OSError as exc:
                    n, lost = 0, f"{exc.__class__.__name__}: {exc}"
                else:
                    lost = "" if n else "connection closed by the server"
                if lost:
                    if pending is not None:
                        pending.result()
                    out.write(mv[:filled])
                    raise _Lost(lost, True)
                h.update(mv[filled:filled + n])
                filled += n
                left -= n
            if pending is not None:
                pending.result()
            out.write(mv[:filled])
        finally:
            if pending is not None:
                with contextlib.suppress(BaseException):
                    pending.result()  # never leave a write running on a buffer about to be reused
            for v in views:
                v.release()

    def discard(self, length: int) -> None:
        left = length
        while left:
            avail = len(self.buf) - self.pos
            if not avail:
                self._fill(True)
                continue
            take = min(avail, left)
            self.pos += take
            left -= take


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


DIRECT_IO = os.environ.get("POWEROPS_MIRROR_DIRECT_IO", "1") != "0"


class _FileWriter:
    """Writes a large downloaded file with ``O_DIRECT`` where the filesystem allows it, else through the page
    cache (set ``POWEROPS_MIRROR_DIRECT_IO=0`` to always do that).

    Why: on the lab VM a page-cache write of 1 GB costs 0.3 s of CPU when the kernel reuses pages, 1.8 s
    when it must take fresh ones from the hypervisor; O_DIRECT costs 0.07 s (measured), and a download is
    CPU-bound (SHA256, TCP). A mirror writes each file once and does not read it back, so skipping the
    page cache also keeps a mirror run from evicting what the host's web server is serving.
    Whole aligned buffers go out with O_DIRECT; the unaligned tail (and everything after an ``EINVAL`` or a
    short write: a filesystem that refuses direct I/O) goes through the page cache."""

    def __init__(self, path: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        self.direct = False
        if DIRECT_IO and O_DIRECT:
            try:
                self.fd = os.open(path, flags | O_DIRECT, 0o644)
                self.direct = True
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        self.fd = os.open(path, flags, 0o644)

    def _buffered(self) -> None:
        if self.direct:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~O_DIRECT)
            self.direct = False

    def write(self, data: memoryview) -> None:
        """Write ``data``: whole aligned buffers, then the file's last piece (any length)."""
        if self.direct:
            aligned = len(data) - len(data) % _ALIGN
            if aligned:
                try:
                    n = os.write(self.fd, data[:aligned])
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    n = 0
                data = data[n:]
                if n < aligned:  # refused or short: the file offset may no longer be aligned
                    self._buffered()
        if data:
            self._buffered()
            _write_all(self.fd, data)

    def close(self) -> None:
        os.close(self.fd)


def _mismatch(path: str, size: int, sha256: str, got_size: int, got_sha: str) -> str | None:
    """The message of ``core.mirror.errors.ChecksumMismatch`` (same wording as seams.mirror_http)."""
    if size >= 0 and got_size != size:
        return f"{path}: checksum mismatch (index says {size} bytes, got {got_size} bytes)"
    if got_sha != sha256:
        return f"{path}: checksum mismatch (index says sha256 {sha256[:16]}..., got sha256 {got_sha[:16]}...)"
    return None


def _store_small(job: Job, data: bytes) -> Result:
    digest = hashlib.sha256(data).hexdigest()
    bad = _mismatch(job.path, job.size, job.sha256, len(data), digest)
    if bad:
        return Result(job.path, False, error=bad)
    if job.stage:
        # straight into the snapshot being staged, then into the pool by a hard link: the pool object
        # appears complete (link(2) is atomic), and the snapshot needs no separate link for it
        try:
            fd = os.open(job.stage, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(job.stage), exist_ok=True)
            fd = os.open(job.stage, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, memoryview(data))
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # already pooled (a concurrent identical file)
            os.link(job.stage, job.final)
        return Result(job.path, True, len(data))
    tmp = job.partial + ".s"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, memoryview(data))
    finally:
        os.close(fd)
    os.replace(tmp, job.final)
    return Result(job.path, True, len(data))


def _store_large(conn: _Connection, job: Job, length: int) -> Result:
    h = hashlib.sha256()
    out = _FileWriter(job.partial)
    try:
        conn.body_to(length, out, h)
    finally:
        out.close()
    bad = _mismatch(job.path, job.size, job.sha256, length, h.hexdigest())
    if bad:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(job.partial)
        return Result(job.path, False, error=bad)
    os.replace(job.partial, job.final)
    return Result(job.path, True, length)


def _one_connection(up: Upstream, jobs: deque[Job], lock: threading.Lock, depth: int,
                    emit: Callable[[Result], None]) -> None:
    """Fetch jobs from the shared queue over one pipelined keep-alive connection until it is empty."""
    inflight: deque[Job] = deque()
    conn: _Connection | None = None
    failures = 0

    def take(n: int) -> list[Job]:
        out = []
        with lock:
            while jobs and len(out) < n:
                out.append(jobs.popleft())
        return out

    try:
        while True:
            if conn is None:
                if not inflight:
                    inflight.extend(take(depth))
                    if not inflight:
                        return
                try:
                    conn = _Connection(up)
                    conn.send(b"".join(up.request(j.path) for j in inflight))
                except OSError as exc:
                    failures = 3 if isinstance(exc, ssl.SSLError) else failures + 1  # TLS refusals are final
                    if failures >= 3:  # unreachable or untrusted: the careful path names the error per file
                        while inflight:
                            emit(Result(inflight.popleft().path, False, fallback=True,
                                        error=f"{exc.__class__.__name__}: {exc}"))
                        for j in take(len(jobs) + 1):
                            emit(Result(j.path, False, fallback=True))
                        return
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.2 * failures)
                    continue
            if len(inflight) <= depth // 2:  # refill in batches: one send for several requests
                more = take(depth - len(inflight))
                if more:
                    with contextlib.suppress(OSError):  # a failure shows when the answers are read
                        conn.send(b"".join(up.request(j.path) for j in more))
                    inflight.extend(more)
            if not inflight:
                return
            job = inflight[0]
            try:
                res, keep = _read_one(conn, job)
            except _Lost as lost:
                conn.close()
                conn = None
                if lost.started:  # mid-response: this file goes to the careful path, the rest are re-sent
                    inflight.popleft()
                    emit(Result(job.path, False, fallback=True, error=str(lost)))
                else:
                    failures += 1
                    if failures >= 3:
                        inflight.popleft()
                        emit(Result(job.path, False, fallback=True, error=str(lost)))
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. the disk is full: every job must still get an answer
                conn.close()  # this response may be half read: the other requests are re-sent
                conn = None
                inflight.popleft()
                emit(Result(job.path, False, fallback=True, error=f"{exc.__class__.__name__}: {exc}"))
                continue
            inflight.popleft()
            failures = 0
            emit(res)
            if not keep:
                conn.close()
                conn = None
    finally:
        if conn is not None:
            conn.close()


def _read_one(conn: _Connection, job: Job) -> tuple[Result, bool]:
    """The answer to ``job``'s request: (result, connection still usable)."""
    status, length, chunked, close = conn.head()
    if chunked or length < 0:
        raise _Lost(f"HTTP {status} without a Content-Length", True)
    if status != 200:
        conn.discard(length)
        if status in (404, 410):
            return Result(job.path, False, error=f"HTTP {status}", missing=True), not close
        return Result(job.path, False, fallback=True, error=f"HTTP {status}"), not close
    if length < SMALL:
        return _store_small(job, conn.body_bytes(length)), not close
    return _store_large(conn, job, length), not close


def fetch_all(up: Upstream, jobs: Iterable[Job], emit: Callable[[Result], None], connections: int = 2,
              depth: int = 10) -> None:
    """Fetch ``jobs`` over ``connections`` pipelined connections (threads); ``emit`` gets one result per job.

    ``emit`` may be called from several threads at once.
    """
    queue = deque(jobs)
    lock = threading.Lock()
    n = max(1, min(connections, len(queue)))
    if n == 1:
        _one_connection(up, queue, lock, depth, emit)
        return
    threads = [threading.Thread(target=_one_connection, args=(up, queue, lock, depth, emit), daemon=True)
               for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _worker_main() -> None:
    import json
    import sys

    header = json.loads(sys.stdin.readline())
    jobs = [Job(**json.loads(line)) for line in sys.stdin if line.strip()]
    up = Upstream(header["base_url"], header.get("ca_pem"), float(header.get("timeout", 60.0)))
    out = sys.stdout
    lock = threading.Lock()
    last = [time.monotonic()]

    def emit(r: Result) -> None:
        line = json.dumps({"path": r.path, "ok": r.ok, "nbytes": r.nbytes, "error": r.error,
                           "missing": r.missing, "fallback": r.fallback}) + "\n"
        with lock:
            out.write(line)
            now = time.monotonic()
            if now - last[0] > 0.25:
                out.flush()
                last[0] = now

    fetch_all(up, jobs, emit, int(header.get("connections", 1)), int(header.get("depth", 10)))
    out.flush()


if __name__ == "__main__":
    _worker_main()
