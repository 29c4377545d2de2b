"""`powerops lab up` is idempotent, `status` says what runs, `down` removes everything it made.

Runs a second, independent lab (tag ``t``, subnet 10.250.79.0/24, own dirs) so the main lab is not disturbed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ENV = {
    **os.environ,
    "POWEROPS_LAB_TAG": "t",
    "POWEROPS_LAB_SUBNET_PREFIX": "10.250.79",
    "POWEROPS_LAB_DIR": "/var/lib/powerops-lab-lifecycle",
    "POWEROPS_LAB_RUN": "/run/powerops-lab-lifecycle",
    "POWEROPS_PREFECT_PORT": "4320",
    "PREFECT_API_URL": "http://127.0.0.1:4320/api",
}
POWEROPS = str(Path(sys.executable).with_name("powerops"))


def powerops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([POWEROPS, *args], env=ENV, capture_output=True, text=True, timeout=300)


def leftovers() -> dict[str, list[str]]:
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return {
        "namespaces": [line for line in ns.splitlines() if line.startswith("pwlt-")],
        "links": [line for line in links.splitlines() if "pwlabt" in line or ": pvt" in line],
        "iptables": [line for line in rules.splitlines() if "pwlabt" in line],
        "processes": [line for line in procs.splitlines() if "/run/powerops-lab-lifecycle" in line
                      or "powerops-lab-lifecycle/nodes" in line],
        "etc_netns": [p.name for p in Path("/etc/netns").glob("pwlt-*")] if Path("/etc/netns").exists() else [],
    }


def test_up_is_idempotent_status_reports_and_down_removes_everything():
    try:
        first = powerops("lab", "up", "--only", "foundation")
        assert first.returncode == 0, first.stderr
        second = powerops("lab", "up", "--only", "foundation")
        assert second.returncode == 0, second.stderr
        status = powerops("lab", "status", "--only", "foundation").stdout
        for node in ("dock1", "dock2", "dock3"):
            assert f"docker host {node}" in status and "dockerd running, sshd running" in status
        assert "build host 10.250.79.1:2201: sshd running" in status
        running = leftovers()
        assert len(running["namespaces"]) == 3 and running["iptables"] and running["processes"]
        # every host answers over SSH with its own hostname-independent docker engine
        docker_ids = set()
        for node in ("dock1", "dock2", "dock3"):
            out = subprocess.run(["docker", "-H", f"unix:///run/powerops-lab-lifecycle/{node}/docker.sock",
                                  "info", "--format", "{{.ID}}"], capture_output=True, text=True)
            docker_ids.add(out.stdout.strip())
        assert len(docker_ids) == 3
    finally:
        down = powerops("lab", "down", "--only", "foundation")
    assert down.returncode == 0, down.stderr
    assert leftovers() == {"namespaces": [], "links": [], "iptables": [], "processes": [], "etc_netns": []}
    assert "stopped" in powerops("lab", "status", "--only", "foundation").stdout
    subprocess.run(["rm", "-rf", ENV["POWEROPS_LAB_DIR"], ENV["POWEROPS_LAB_RUN"]])
