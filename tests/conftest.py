"""Shared fixtures.

* Unit tests (tests/unit) open no socket and need nothing.
* Lab tests (tests/lab, marker ``lab``) drive real flows: they get a real Prefect server (started once per
  session, in a temporary PREFECT_HOME) and the running lab.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server for this test session; yields its API URL and points the client at it."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )

    from lab import prefect_server as ps

    home = tempfile.mkdtemp(prefix="powerops-test-prefect-")
    info = ps.start(home, port=_free_port())
    os.environ["PREFECT_API_URL"] = info.api_url
    os.environ["POWEROPS_TEST_PREFECT_HOME"] = home
    try:
        with temporary_settings(updates={
            PREFECT_API_URL: info.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED: False,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        }):
            yield info.api_url
            # send the logs still queued before the server goes (else: "Error logging to API" at exit)
            from prefect.logging.handlers import APILogHandler

            APILogHandler().flush()
    finally:
        ps.stop(home)
        shutil.rmtree(home, ignore_errors=True)  # its database (a PostgreSQL cluster: ~40 MB)
        os.environ.pop("PREFECT_API_URL", None)
