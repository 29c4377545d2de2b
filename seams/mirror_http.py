"""The httpx side of the mirrors: metadata fetches, and the careful path of downloads (resume, redirects).

httpx errors are translated into ``UpstreamError``/``ChecksumMismatch`` here and nowhere else.
Clients come from the project's one factory, ``seams.http.http_client`` (TLS always verified).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.mirror.errors import ChecksumMismatch, UpstreamError, UpstreamTLSError
from core.mirror.tls import tls_failure
from seams.http import http_client as shared_http_client

USER_AGENT = "powerops-mirror/0.1"
SMALL = 1 << 20  # files below this are fetched in one read (no resume needed)


def http_client(base_url: str, *, timeout: float = 60.0, max_connections: int = 16, ca_pem: str | None = None,
                proxy: str | None = None) -> httpx.Client:
    """A pooled keep-alive client for one upstream, made by the project's one factory (``seams.http``).

    Thread-safe: download threads share it. Mirrors follow redirects (upstream mirrors redirect to pools).
    """
    client = shared_http_client(
        ca_pem=ca_pem, timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        base_url=base_url.rstrip("/") + "/",
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        proxy=proxy, headers={"User-Agent": USER_AGENT},
    )
    client.follow_redirects = True
    return client


def _url(client: httpx.Client, path: str) -> str:
    return f"{client.base_url}{path.lstrip('/')}"


def tls_problem(exc: BaseException) -> str | None:
    """The certificate verification failure behind ``exc`` (httpx wraps the ssl error), if that is what it is."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return str(e.verify_message or e.reason or e)
        if isinstance(e, ssl.SSLError):
            return str(e.reason or e)
        e = e.__cause__ or e.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:  # httpx keeps only the text of the ssl error
        return text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip() or text
    return None


def request_error(url: str, exc: httpx.HTTPError, what: str = "request failed") -> UpstreamError:
    """The UpstreamError for a failed request: a TLS verification failure is named as such."""
    problem = tls_problem(exc)
    if problem is not None:
        return UpstreamTLSError(url, tls_failure(problem))
    return UpstreamError(url, f"{what}: {exc.__class__.__name__}: {exc}")


def fetch(client: httpx.Client, path: str, optional: bool = False) -> bytes | None:
    """GET ``path``; ``None`` if it is absent (404/410) and ``optional``."""
    try:
        resp = client.get(path.lstrip("/"))
    except httpx.HTTPError as exc:
        raise request_error(_url(client, path), exc) from None
    if resp.status_code in (404, 410) and optional:
        return None
    if resp.status_code != 200:
        raise UpstreamError(_url(client, path), f"HTTP {resp.status_code}")
    return resp.content


@dataclass(frozen=True)
class Fetched:
    path: str
    nbytes: int  # bytes transferred in this run
    resumed: bool


def download(client: httpx.Client, path: str, size: int, sha256: str, final: Path, partial: Path) -> Fetched:
    """Download ``path`` into ``final`` (atomic rename) after checking size and SHA256.

    A leftover ``partial`` from an interrupted run is resumed with a Range request; a partial that turns out
    wrong is discarded and the file fetched again once from the start.
    """
    url = _url(client, path)
    if size >= 0 and size < SMALL and not partial.exists():
        data = fetch(client, path)
        assert data is not None
        _check(path, size, sha256, len(data), hashlib.sha256(data).hexdigest())
        tmp = partial.with_name(partial.name + ".s")
        tmp.write_bytes(data)
        os.replace(tmp, final)
        return Fetched(path, len(data), False)
    for attempt in (0, 1):
        offset = partial.stat().st_size if partial.exists() else 0
        if size >= 0 and offset > size:
            partial.unlink()
            offset = 0
        h = hashlib.sha256()
        if offset:
            with partial.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        transferred = 0
        try:
            with client.stream("GET", path.lstrip("/"), headers=headers) as resp:
                if resp.status_code == 416 and offset:  # nothing left to read: the partial is complete
                    pass
                elif resp.status_code == 200 and offset:  # server ignored Range: start over
                    offset = 0
                    h = hashlib.sha256()
                    mode = "wb"
                elif resp.status_code not in (200, 206):
                    raise UpstreamError(url, f"HTTP {resp.status_code}")
                if resp.status_code in (200, 206):
                    mode = "ab" if resp.status_code == 206 else "wb"
                    with partial.open(mode) as out:
                        for chunk in resp.iter_bytes(1 << 20):
                            out.write(chunk)
                            h.update(chunk)
                            transferred += len(chunk)
        except httpx.HTTPError as exc:
            raise request_error(url, exc, f"download interrupted after {offset + transferred} bytes "
                                          "(kept for resume)") from None
        got = partial.stat().st_size
        digest = h.hexdigest()
        if (size < 0 or got == size) and digest == sha256:
            os.replace(partial, final)
            return Fetched(path, transferred, offset > 0)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        if attempt == 1 or offset == 0:
            _check(path, size, sha256, got, digest)
    raise AssertionError("unreachable")


def _check(path: str, size: int, sha256: str, got_size: int, got_sha: str) -> None:
    if size >= 0 and got_size != size:
        raise ChecksumMismatch(path, f"{size} bytes", f"{got_size} bytes")
    if got_sha != sha256:
        raise ChecksumMismatch(path, f"sha256 {sha256[:16]}...", f"sha256 {got_sha[:16]}...")
