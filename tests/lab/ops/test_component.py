"""lab.ops as the lead's CLI drives it: up (idempotent) -> status -> a demo ticket -> down (by PID)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.lab


def test_up_status_ticket_down(prefect_server: str) -> None:
    from lab import ops
    from lab.context import LabContext

    state = tempfile.mkdtemp(prefix="powerops-ops-component-")
    lab = LabContext(state_dir=Path(state) / "state", run_dir=Path(state) / "run")
    port = free_port()
    try:
        ops.up(lab, workers=1, ticket_port=port)
        ops.up(lab, workers=1, ticket_port=port)          # idempotent: same PIDs
        lines = ops.status(lab)
        assert any("ticket-service: running" in x for x in lines), lines
        assert any("worker-1: running" in x for x in lines), lines
        pids = [int((ops.ops_dir(lab) / f"{n}.pid").read_text()) for n in ("ticket-service", "worker-1")]
        line = ops.demo_ticket(lab)
        assert "HTTP 201" in line and "HTTP 200 same run=True" in line and "state Completed" in line, line
        assert ops.register_blocks(lab) == ["variable:powerops_approvers"]
    finally:
        ops.down(lab)
    assert all("not running" in x for x in ops.status(lab) if "running" in x)
    for pid in pids:   # gone, or a zombie waiting for this test process to reap it
        assert not ops._alive(pid), f"pid {pid} still running"
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
