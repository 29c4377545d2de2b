"""The three swarm flows for real on the lab: 3-node swarm (sw1 manager, sw2 + sw3 workers) and lb1.

Order matters (one swarm for the module): bootstrap (dry run, apply, re-run); roles (promote both workers, the
demote task's live quorum check with a manager cut off, demote back with confirm) - before any service, so no
task is moved; deploy global with the seed layout (haproxy on lb1), proof of the spread, the seed layout's
node-loss drill; a config haproxy refuses; deploy replicated with DNS discovery (haproxy container on the
overlay), drill refusals, a deploy that cannot converge, the DNS drill; last, a node of another swarm (last
because an engine that leaves and rejoins keeps stale overlay gossip keys for a while: dockerd logs "No
installed keys could decrypt the message" and the overlay DNS misses that node's tasks)."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from blocks.docker_host import DockerHost
from blocks.swarm import HaproxyHost, SwarmInventory
from core.errors import ConfirmationRequired, SafetyCheckFailed
from core.swarm.errors import ConvergenceTimeout, ForeignSwarm, HaproxyError
from flows._sync import call_flow
from flows.bootstrap_swarm import BootstrapSwarmParams, bootstrap_swarm
from flows.deploy_swarm_service import DeploySwarmServiceParams, deploy_swarm_service
from flows.prove_swarm_service import ProveSwarmServiceParams, prove_swarm_service
from lab import swarm as lab_swarm
from tasks.haproxy import validate_haproxy_config, validate_haproxy_config_in_image
from tasks.swarm import set_node_role
from tests.lab.swarm.conftest import BASE

pytestmark = pytest.mark.lab

SERVICE = "whoami-test"


def _docker(node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", f"unix:///run/powerops-lab/{node}/docker.sock", *args],
                          capture_output=True, text=True, timeout=60)


def _now() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)  # the server's clock is this machine's


def _assert_artifacts(since: datetime, *keys: str) -> None:
    """Each key has an artifact created since ``since`` (the flows are async: a Prefect artifact call without
    ``_sync=True`` would have returned a coroutine and published nothing)."""
    with get_client(sync_client=True) as client:
        for key in keys:
            got = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                        sort=ArtifactSort.CREATED_DESC, limit=1)
            assert got and got[0].created is not None and got[0].created >= since, f"no new artifact {key}"


def _deploy(image: str, **kw) -> dict[str, object]:
    base = dict(inventory="lab-swarm", service=SERVICE, image=image, registry="lab-registry",
                haproxy_base_image=BASE, build_host="lab-build",
                site_files={"motd": "swarm lab test\n"})
    base.update(kw)
    return call_flow(deploy_swarm_service, DeploySwarmServiceParams(**base))


@pytest.fixture(scope="module")
def swarm(swarm_lab):
    return swarm_lab


def test_bootstrap_dry_run_apply_rerun(swarm):
    lab = swarm["lab"]
    since = _now()
    dry = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm", dry_run=True))
    _assert_artifacts(since, "swarm-bootstrap-plan")
    assert dry["planned"] == ["init lab-sw1", "join-worker lab-sw2", "join-worker lab-sw3",
                              "create-network lab-sw1", "set-heartbeat lab-sw1"]
    assert lab_swarm.swarm_states(lab) == {"sw1": "inactive", "sw2": "inactive", "sw3": "inactive"}

    first = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    assert first["applied"] == ["init lab-sw1", "set-heartbeat lab-sw1", "join-worker lab-sw2",
                                "join-worker lab-sw3", "create-network lab-sw1"]
    assert sorted((n["node"], n["role"], n["state"]) for n in first["nodes"]) == [
        ("sw1", "manager", "ready"), ("sw2", "worker", "ready"), ("sw3", "worker", "ready")]
    net = _docker("sw1", "network", "inspect", "powerops", "--format", "{{.Driver}} {{.Attachable}}").stdout
    assert net.strip() == "overlay true"
    hb = _docker("sw1", "info", "--format", "{{.Swarm.Cluster.Spec.Dispatcher.HeartbeatPeriod}}").stdout
    assert hb.strip() == "1s"

    again = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    assert again["planned"] == [] and again["applied"] == []
    assert again["cluster_id"] == first["cluster_id"]
    _assert_artifacts(since, "swarm-bootstrap-plan", "swarm-nodes", "swarm-bootstrap-summary")


def _roles() -> dict[str, str]:
    """hostname -> MANAGER STATUS column as sw1 sees it ('' for a worker)."""
    out = _docker("sw1", "node", "ls", "--format", "{{.Hostname}}|{{.ManagerStatus}}").stdout.split()
    return dict(line.split("|", 1) for line in out)


def _wait_roles(want: dict[str, str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while _roles() != want:
        assert time.monotonic() < deadline, f"roles {_roles()} != {want} after {timeout:.0f}s"
        time.sleep(0.5)


def test_bootstrap_promotes_and_demotes_to_match_the_inventory(swarm):
    """Runs before any service: the inventory says 3 managers, then back to 1 manager + 2 workers."""
    base = lab_swarm.inventory_values(swarm["lab"])
    SwarmInventory(**{**base, "managers": ["lab-sw1", "lab-sw2", "lab-sw3"], "workers": []}).save(
        "lab-swarm-3m", overwrite=True)
    SwarmInventory(**{**base, "managers": ["lab-sw1", "lab-sw2"], "workers": ["lab-sw3"]}).save(
        "lab-swarm-2m", overwrite=True)
    two = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm-2m", dry_run=True))
    assert two["planned"] == ["promote lab-sw2"] and not two["needs_confirm"]
    assert "2 managers: an even count" in two["advice"][0]
    dry = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm-3m", dry_run=True))
    assert dry["planned"] == ["promote lab-sw2", "promote lab-sw3"] and dry["advice"] == []
    assert _roles() == {"sw1": "Leader", "sw2": "", "sw3": ""}

    up = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm-3m"))
    assert up["applied"] == ["promote lab-sw2", "promote lab-sw3"]
    assert sorted((n["node"], n["role"]) for n in up["nodes"]) == [
        ("sw1", "manager"), ("sw2", "manager"), ("sw3", "manager")]
    assert _roles() == {"sw1": "Leader", "sw2": "Reachable", "sw3": "Reachable"}

    # the live safety check of the demote task on the real swarm: sw3 (a manager) loses its link; demoting sw2
    # would leave sw1 and the unreachable sw3, 1 of 2 managers: no quorum. Refused before anything changes.
    # (The task, not the flow: the flow reads every engine first, and sw3's engine is out of reach.)
    anchor = DockerHost.load("lab-sw1")
    sw2_id = _docker("sw2", "info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    subprocess.run(["ip", "link", "set", "dev", "pvsw3", "down"], check=True)
    try:
        _wait_roles({"sw1": "Leader", "sw2": "Reachable", "sw3": "Unreachable"})
        with pytest.raises(SafetyCheckFailed, match="demoting sw2 would leave 2 manager.*raft needs 2 for quorum"):
            set_node_role.fn(anchor, sw2_id, "demote", 30.0)
        assert _roles() == {"sw1": "Leader", "sw2": "Reachable", "sw3": "Unreachable"}
    finally:
        subprocess.run(["ip", "link", "set", "dev", "pvsw3", "up"], check=True)
    _wait_roles({"sw1": "Leader", "sw2": "Reachable", "sw3": "Reachable"})

    # back to the module's inventory: demoting is disruptive, so it needs confirm
    plan = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm", dry_run=True))
    assert plan["planned"] == ["demote lab-sw2", "demote lab-sw3"] and plan["needs_confirm"]
    with pytest.raises(ConfirmationRequired, match="demoting lab-sw2, lab-sw3"):
        call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    assert _roles() == {"sw1": "Leader", "sw2": "Reachable", "sw3": "Reachable"}
    down = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm", confirm=True))
    assert down["applied"] == ["demote lab-sw2", "demote lab-sw3"]
    assert _roles() == {"sw1": "Leader", "sw2": "", "sw3": ""}
    assert sorted((n["node"], n["role"], n["state"], n["availability"]) for n in down["nodes"]) == [
        ("sw1", "manager", "ready", "active"), ("sw2", "worker", "ready", "active"),
        ("sw3", "worker", "ready", "active")]
    again = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    assert again["planned"] == [] and again["applied"] == []


def test_deploy_global_seed_layout_behind_lb1_and_rerun(swarm):
    since = _now()
    first = _deploy(swarm["image"], mode="global")
    assert first["layout"] == "seed" and "no IPVS" in first["reason"]
    assert (first["running"], first["desired"]) == (2, 2)
    assert sorted(b["server"] for b in first["backends"]) == ["sw2", "sw3"]
    assert all(b["status"] == "UP" for b in first["backends"])
    assert first["url"] == "http://10.250.77.20:80/"
    body = httpx.get(first["url"], timeout=5).text
    assert "hostname:" in body and "site: swarm lab test" in body  # the bind-mounted site content
    again = _deploy(swarm["image"], mode="global")
    assert again["applied"] == [] and again["planned"] == []
    _assert_artifacts(since, "swarm-deploy-plan", "swarm-haproxy-backends", "swarm-deploy-summary")


def test_prove_spread_through_lb1(swarm):
    since = _now()
    out = call_flow(prove_swarm_service,
                    ProveSwarmServiceParams(inventory="lab-swarm", service=SERVICE, requests=1000))
    assert out["layout"] == "seed" and out["failed"] == 0 and out["containers"] == 2
    assert sum(out["counts"].values()) == 1000
    _assert_artifacts(since, "swarm-spread", "swarm-spread-chart")
    assert out["max_deviation_pct"] <= 3.0 and out["p_value"] > 0.001


def test_drill_on_the_seed_layout_survives_a_worker_loss(swarm):
    """The seed's own drill: global service, haproxy on lb1 in front of each node's host-mode port; sw3 loses
    its link while requests keep flowing, then comes back."""
    since = _now()
    out = call_flow(prove_swarm_service, ProveSwarmServiceParams(
        inventory="lab-swarm", service=SERVICE, requests=400, drill=True, confirm=True, victim="lab-sw3",
        drill_timeout_s=120))
    assert out["layout"] == "seed" and out["containers"] == 2 and out["failed"] == 0
    drill = out["drill"]
    assert drill["victim"] == "sw3" and drill["victim_servers"] == ["sw3"]
    # detection (haproxy's checks) and recovery (the global service keeps its task on sw2) both happened,
    # in that order, within the drill's deadline; the node came back
    assert drill["detected_s"] is not None and 0 < drill["detected_s"] < 120
    assert drill["recovered_s"] is not None and drill["detected_s"] <= drill["recovered_s"] < 120
    assert drill["node_back_s"] is not None
    # requests kept flowing; failures only while haproxy had not yet marked sw3 DOWN (target 0.5% is measured
    # by benchmarks/swarm_bench.py; the bound here leaves room for a loaded CI machine)
    assert drill["requests"] > 50 and drill["failed"] <= drill["requests"]
    assert drill["failed_in_window"] <= drill["failed"] and drill["failed_pct"] <= 5.0
    assert drill["recovery"] == ["2/2 tasks running, 2 backends UP"]
    _assert_artifacts(since, "swarm-spread", "swarm-spread-chart", "swarm-drill-timeline", "swarm-drill")
    events = [e["event"] for e in drill["timeline"]]
    assert events[0].startswith("node-down command") and "ip link set dev pvsw3 down" in events[0]
    assert "haproxy marks the lost node's servers DOWN" in events and any(e.startswith("node-up command")
                                                                         for e in events)
    # both nodes answer through lb1 again
    seen = {line.split(":", 1)[1].strip() for _ in range(40)
            for line in httpx.get(out["url"], timeout=5).text.splitlines() if line.startswith("hostname:")}
    assert len(seen) == 2


def test_haproxy_refuses_a_bad_config_and_nothing_is_installed(swarm):
    lb = HaproxyHost.load("lab-lb1")
    before = lb.ssh.connect().read_file(lb.config_path)
    with pytest.raises(HaproxyError, match="haproxy -c refused"):
        validate_haproxy_config.fn(lb, "frontend x\n    bind *:80\n    default_backend nowhere\n")
    assert lb.ssh.connect().read_file(lb.config_path) == before


def test_deploy_replicated_dns_layout_and_drill_refusals(swarm):
    capped = _deploy(swarm["image"], mode="replicated", replicas=10, max_replicas_per_node=5)
    assert capped["layout"] == "dns" and capped["service_action"] == "recreate"
    assert (capped["running"], capped["desired"]) == (10, 10) and len(capped["backends"]) == 10
    assert capped["url"] == "http://10.250.77.21:80/"
    names = _docker("sw1", "ps", "--filter", f"name=powerops-haproxy-{SERVICE}", "--format", "{{.Names}}").stdout
    assert names.strip() == f"powerops-haproxy-{SERVICE}"
    with pytest.raises(ConfirmationRequired):
        call_flow(prove_swarm_service, ProveSwarmServiceParams(inventory="lab-swarm", service=SERVICE, drill=True))
    with pytest.raises(SafetyCheckFailed, match="can hold 5"):
        call_flow(prove_swarm_service, ProveSwarmServiceParams(inventory="lab-swarm", service=SERVICE, drill=True,
                                                               confirm=True))
    # nothing was taken down
    assert all(s == "active" for s in lab_swarm.swarm_states(swarm["lab"]).values())
    down = _docker("sw1", "node", "ls", "--format", "{{.Hostname}} {{.Status}}").stdout.split("\n")
    assert all(line.endswith("Ready") for line in down if line)


def test_haproxy_in_the_image_refuses_a_bad_config_and_leaves_no_container(swarm):
    """The DNS layout's check runs the image's own haproxy -c in a throwaway container (after the DNS deploy)."""
    sw1 = DockerHost.load("lab-sw1")
    cfg_dir = f"/etc/powerops/haproxy/sw1-{SERVICE}"
    live = sw1.ssh.connect().read_file(f"{cfg_dir}/haproxy.cfg")
    assert live is not None
    with pytest.raises(HaproxyError, match="(?s)haproxy -c refused the new config .*nowhere"):
        validate_haproxy_config_in_image.fn(sw1, "powerops/haproxy:2.6", cfg_dir,
                                            "frontend x\n    bind *:80\n    default_backend nowhere\n")
    assert validate_haproxy_config_in_image.fn(sw1, "powerops/haproxy:2.6", cfg_dir, live.decode()) is False
    assert sw1.ssh.connect().read_file(f"{cfg_dir}/haproxy.cfg") == live
    left = _docker("sw1", "ps", "-a", "--filter", "label=org.powerops.role=haproxy-check", "--format", "{{.ID}}")
    assert left.returncode == 0 and left.stdout.strip() == ""


def test_deploy_that_cannot_converge_names_the_tasks_and_why(swarm):
    try:
        with pytest.raises(ConvergenceTimeout) as err:
            _deploy("10.250.77.11:5000/powerops/does-not-exist:1", service="whoami-broken", prepull="never",
                    lb_port=8081, lb_stats_port=8405,
                    replicas=2, convergence_timeout_s=45)
        msg = str(err.value)
        assert "whoami-broken: 0/2 tasks running after 45s" in msg
        assert "No such image: 10.250.77.11:5000/powerops/does-not-exist:1" in msg and " on sw" in msg
    finally:
        _docker("sw1", "service", "rm", "whoami-broken")


def test_deploy_rerun_then_drill_survives_a_node_loss(swarm):
    uncapped = _deploy(swarm["image"], mode="replicated", replicas=10)
    assert uncapped["service_action"] == "update"
    rerun = _deploy(swarm["image"], mode="replicated", replicas=10)
    assert rerun["applied"] == [] and rerun["planned"] == []
    out = call_flow(prove_swarm_service, ProveSwarmServiceParams(
        inventory="lab-swarm", service=SERVICE, requests=2000, drill=True, confirm=True, victim="lab-sw3"))
    assert out["layout"] == "dns" and out["containers"] == 10 and out["failed"] == 0
    assert out["max_deviation_pct"] <= 3.0
    drill = out["drill"]
    assert drill["detected_s"] is not None and drill["recovered_s"] is not None
    assert drill["node_back_s"] is not None
    assert drill["requests"] > 100
    assert drill["failed_pct"] <= 5.0  # the 0.5% target is measured by benchmarks/swarm_bench.py
    assert drill["recovery"][-1] == "10/10 tasks running, 10 backends UP"
    events = [e["event"] for e in drill["timeline"]]
    assert events[0].startswith("node-down command") and "ip link set dev pvsw3 down" in events[0]
    assert any(e.startswith("swarm marks sw3 down") for e in events)
    # the lost node is back and its link is up
    assert "state UP" in subprocess.run(["ip", "link", "show", "pvsw3"], capture_output=True, text=True).stdout


def test_node_of_another_swarm_is_reported_not_hijacked(swarm):
    assert _docker("sw3", "swarm", "leave", "--force").returncode == 0
    assert _docker("sw3", "swarm", "init", "--advertise-addr", "10.250.77.23").returncode == 0
    foreign_id = _docker("sw3", "info", "--format", "{{.Swarm.Cluster.ID}}").stdout.strip()
    try:
        with pytest.raises(ForeignSwarm, match="lab-sw3"):
            call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
        assert _docker("sw3", "info", "--format", "{{.Swarm.Cluster.ID}}").stdout.strip() == foreign_id
    finally:
        _docker("sw3", "swarm", "leave", "--force")
        # the manager still lists the old dock3 node as down: remove it, then rejoin through the flow
        old = _docker("sw1", "node", "ls", "--filter", "name=sw3", "-q").stdout.split()
        for node_id in old:
            _docker("sw1", "node", "rm", "--force", node_id)
    back = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    assert back["applied"] == ["join-worker lab-sw3"]
