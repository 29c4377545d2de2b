"""Reads of engine state get a short request timeout, long operations keep the client's (300 s); a read that
gets no answer raises HostUnreachable naming the host. The docker-py client is real (never connected: its
HTTP ``get``/``post`` are replaced by fakes that record the timeout each request was sent with)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import requests

from core.errors import HostUnreachable
from seams.docker import FACT_TIMEOUT_S, call, with_call_timeouts
from tasks.haproxy import inspect_images
from tasks.swarm import leave_swarm, read_host_swarm_state, read_image_present, read_service_state
from tests.unit.swarm.conftest import load

CLIENT_TIMEOUT = 300


def _response(status: int, body: Any) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode()
    r.url = "http+docker://localhost/fake"
    return r


class FakeHost:
    """Duck-typed DockerHost whose client is a real docker-py client answering from ``answers`` (path suffix ->
    response, or an exception to raise); every request's timeout is recorded, anything undeclared is refused."""

    def __init__(self, answers: dict[str, requests.Response | Exception]) -> None:
        self.name, self.address = "sw1", "10.250.77.21"
        self.answers = answers
        self.sent: list[tuple[str, str, float]] = []
        self._client = with_call_timeouts(docker.DockerClient(
            base_url="unix:///nonexistent/docker.sock", version="1.41", timeout=CLIENT_TIMEOUT))
        self._client.api.get = lambda url, **kw: self._answer("GET", url, kw)  # type: ignore[method-assign]
        self._client.api.post = lambda url, **kw: self._answer("POST", url, kw)  # type: ignore[method-assign]

    def _answer(self, method: str, url: str, kw: dict[str, Any]) -> requests.Response:
        path = url.split("/v1.41", 1)[-1]
        self.sent.append((method, path, kw["timeout"]))
        got = self.answers.get(path)
        if got is None:
            raise AssertionError(f"undeclared request {method} {path}")
        if isinstance(got, Exception):
            raise got
        return got

    @contextlib.contextmanager
    def client(self) -> Iterator[docker.DockerClient]:
        yield self._client


def test_docker_info_is_read_with_the_short_timeout():
    host = FakeHost({"/info": _response(200, load("info_swarm_dock1.json"))})
    state = read_host_swarm_state.fn(host)  # type: ignore[arg-type]
    assert state.host == "sw1" and state.local_state == "active"
    assert host.sent == [("GET", "/info", FACT_TIMEOUT_S)]
    assert FACT_TIMEOUT_S < CLIENT_TIMEOUT


def test_a_read_without_answer_fails_naming_the_host_and_the_timeout():
    host = FakeHost({"/info": requests.exceptions.ReadTimeout("Read timed out.")})
    with pytest.raises(HostUnreachable, match=rf"^sw1: docker info: the Docker engine did not answer within "
                                              rf"{FACT_TIMEOUT_S:g} s"):
        read_host_swarm_state.fn(host)  # type: ignore[arg-type]
    assert host.sent == [("GET", "/info", FACT_TIMEOUT_S)]


def test_a_broken_connection_is_host_unreachable():
    host = FakeHost({"/info": requests.exceptions.ConnectionError("Connection aborted.")})
    with pytest.raises(HostUnreachable, match="^sw1: docker info: connection to the Docker engine failed"):
        read_host_swarm_state.fn(host)  # type: ignore[arg-type]


def test_changes_keep_the_client_timeout_after_a_short_read():
    """leave_swarm reads ``docker info`` (short) then leaves (a change: the client's long timeout)."""
    host = FakeHost({"/info": _response(200, load("info_swarm_dock1.json")),
                     "/swarm/leave": _response(200, None)})
    assert leave_swarm.fn(host, force=True) is True  # type: ignore[arg-type]
    assert host.sent == [("GET", "/info", FACT_TIMEOUT_S), ("POST", "/swarm/leave", CLIENT_TIMEOUT)]


def test_call_without_timeout_keeps_the_client_timeout():
    host = FakeHost({"/info": _response(200, {})})
    with host.client() as client:
        call("sw1", "docker info", client.info)
        call("sw1", "docker info", client.info, timeout=3)
        call("sw1", "docker info", client.info)
    assert [t for _, _, t in host.sent] == [CLIENT_TIMEOUT, 3, CLIENT_TIMEOUT]


def test_image_and_service_reads_use_the_short_timeout():
    missing = _response(404, {"message": "No such image: x:1"})
    host = FakeHost({"/images/x:1/json": missing,
                     "/services/whoami": _response(404, {"message": "service whoami not found"})})
    assert read_image_present.fn(host, "x:1") is False  # type: ignore[arg-type]
    assert inspect_images.fn(host, ["x:1"]) == [None]  # type: ignore[arg-type]
    assert read_service_state.fn(host, "whoami") is None  # type: ignore[arg-type]
    assert [t for _, _, t in host.sent] == [FACT_TIMEOUT_S] * 3


def test_service_inspect_without_answer_fails_naming_the_host():
    host = FakeHost({"/services/whoami": requests.exceptions.ReadTimeout("Read timed out.")})
    with pytest.raises(HostUnreachable, match="^sw1: inspect service whoami: the Docker engine did not answer"):
        read_service_state.fn(host, "whoami")  # type: ignore[arg-type]
