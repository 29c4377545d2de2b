"""One keep-alive connection pool per Docker engine: requests to different endpoints reuse a connection.

docker-py alone keys its unix-socket pools by request URL, so each endpoint (each container ID) opens a new
connection; through the SSH tunnel that is a new ``docker system dial-stdio`` process on the host per request.
A real docker-py client talks to a small HTTP/1.1 server on a unix socket that counts the connections it accepts.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from seams.docker import one_connection_pool, with_call_timeouts


class CountingEngine:
    """Answers every request with a small JSON body, keeps connections alive, counts accepted connections."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.accepted = 0
        self.requests: list[str] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                length = next((int(v) for k, _, v in (h.partition(": ") for h in lines[1:])
                               if k.lower() == "content-length"), 0)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                self.requests.append(lines[0].split(" ")[1])
                body = json.dumps({"ApiVersion": "1.41", "Id": "x", "Containers": []}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[CountingEngine]:
    eng = CountingEngine(str(tmp_path / "docker.sock"))
    yield eng
    eng.close()


def _client(engine: CountingEngine) -> docker.DockerClient:
    return with_call_timeouts(docker.DockerClient(base_url=f"unix://{engine.path}", version="1.41", timeout=10))


def _different_endpoints(client: docker.DockerClient) -> None:
    api = client.api
    api.version()
    api.inspect_container("aaaa")
    api.inspect_container("bbbb")
    api.inspect_image("powerops/haproxy:2.6")
    api.containers(all=True)
    api.remove_container("aaaa", force=True)


def test_requests_to_different_endpoints_share_one_connection(engine):
    client = one_connection_pool(_client(engine))
    _different_endpoints(client)
    assert len(engine.requests) == 6
    assert engine.accepted == 1


def test_docker_py_alone_opens_a_connection_per_endpoint(engine):
    """What the shared pool fixes (if docker-py changes this, one_connection_pool may go)."""
    _different_endpoints(_client(engine))
    assert engine.accepted == 6


def test_concurrent_requests_get_their_own_connections_and_give_them_back(engine):
    client = one_connection_pool(_client(engine))
    threads = [threading.Thread(target=client.api.inspect_container, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    before = engine.accepted
    assert 1 <= before <= 4
    for i in range(8):
        client.api.inspect_container(f"d{i}")
    assert engine.accepted == before  # the pooled connections are reused
