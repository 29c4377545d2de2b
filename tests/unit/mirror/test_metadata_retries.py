"""The metadata fetches that start a mirror run retry upstream errors themselves (they are not task runs):
against a real HTTP server on loopback that fails the first requests."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

import tasks.mirror as tm
from core.mirror.errors import UpstreamError, UpstreamTLSError


class Flaky(http.server.ThreadingHTTPServer):
    failures = 0  # answer 503 to this many requests first
    seen: list[str]


class Handler(http.server.BaseHTTPRequestHandler):
    server: Flaky
    files = {"/repo/dists/bookworm/InRelease": b"signed release", "/repo/repodata/repomd.xml": b"<repomd/>"}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.seen.append(self.path)
        if self.server.failures > 0:
            self.server.failures -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flaky]:
    monkeypatch.setattr(tm, "METADATA_RETRY_DELAY_S", 0.0)
    srv = Flaky(("127.0.0.1", 0), Handler)
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv: Flaky) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/repo/"


def test_release_fetch_retries_a_failing_upstream(upstream: Flaky, caplog: pytest.LogCaptureFixture) -> None:
    upstream.failures = 2
    assert tm.fetch_release_files(url(upstream), "bookworm") == {"InRelease": b"signed release"}
    assert upstream.seen.count("/repo/dists/bookworm/InRelease") == 3
    assert caplog.text.count("HTTP 503; retry") == 2


def test_repomd_fetch_gives_up_after_the_retries(upstream: Flaky) -> None:
    upstream.failures = 10
    with pytest.raises(UpstreamError, match="HTTP 503"):
        tm.fetch_repomd(url(upstream))
    assert len(upstream.seen) == tm.METADATA_RETRIES + 1


def test_a_missing_suite_is_reported_after_the_retries(upstream: Flaky) -> None:
    with pytest.raises(UpstreamError, match="neither InRelease nor Release exists"):
        tm.fetch_release_files(url(upstream), "trixie")
    assert upstream.seen.count("/repo/dists/trixie/InRelease") == tm.METADATA_RETRIES + 1


def test_a_refused_certificate_is_not_retried() -> None:
    calls = []

    def refused() -> bytes:
        calls.append(1)
        raise UpstreamTLSError("https://mirror.test/", "TLS certificate of the upstream not trusted")

    with pytest.raises(UpstreamTLSError):
        tm._retrying("suite bookworm", refused)
    assert calls == [1]
