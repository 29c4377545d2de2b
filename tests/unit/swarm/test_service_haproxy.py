"""Service spec/plan/layout/convergence, haproxy rendering (golden files) and stats CSV parsing (recordings)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from core.errors import InvalidInput, SafetyCheckFailed
from core.swarm import haproxy as hx
from core.swarm import models as m
from core.swarm import service as svc
from core.swarm.drill import check_drill
from tests.unit.swarm.conftest import DATA, GOLDEN, load


def spec(**kw) -> svc.ServiceSpec:
    base = dict(name="whoami", image="10.250.77.11:5000/powerops/whoami:1", mode="replicated", replicas=10,
                network="powerops", endpoint_mode="dnsrr", port=80, published_port=None, publish_mode="ingress",
                constraints=("node.role==worker",), mounts=(("bind", "/srv/site", "/srv/www/site"),))
    base.update(kw)
    return svc.ServiceSpec(**base)


def live() -> m.ServiceState:
    return m.parse_service(load("service_whoami_replicated.json"), load("tasks_whoami_replicated.json"),
                           svc.HASH_LABEL)


def nodes() -> list[m.SwarmNode]:
    return [m.parse_node(n) for n in load("nodes.json")]


def test_api_spec_has_init_dnsrr_constraints_and_readonly_bind():
    api = svc.api_spec(spec())
    c = api["TaskTemplate"]["ContainerSpec"]
    assert c["Init"] is True and c["Mounts"] == [{"Type": "bind", "Source": "/srv/site", "Target": "/srv/www/site",
                                                  "ReadOnly": True}]
    assert api["TaskTemplate"]["Placement"] == {"Constraints": ["node.role==worker"]}
    assert api["EndpointSpec"] == {"Mode": "dnsrr"} and api["Mode"] == {"Replicated": {"Replicas": 10}}
    g = svc.api_spec(spec(mode="global", published_port=8080, publish_mode="host"))
    assert g["Mode"] == {"Global": {}}
    assert g["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                                           "PublishMode": "host"}]


def test_spec_validation():
    with pytest.raises(InvalidInput):
        spec(mode="both")
    with pytest.raises(InvalidInput):
        spec(published_port=80, publish_mode="ingress")  # dnsrr cannot use the routing mesh
    with pytest.raises(InvalidInput):
        spec(replicas=0)


def test_deploy_plan_create_none_update_recreate():
    s = spec()
    assert svc.plan_deploy(s, None).action == "create"
    cur = dataclasses.replace(live(), spec_hash=svc.spec_hash(s))
    assert svc.plan_deploy(s, cur).action == "none"
    assert svc.plan_deploy(spec(replicas=12), cur).action == "update"
    assert svc.plan_deploy(spec(mode="global"), cur).action == "recreate"
    assert svc.spec_hash(spec()) == svc.spec_hash(spec())  # stable


@pytest.mark.parametrize(("requested", "ipvs", "mode", "expected"), [
    ("auto", True, "replicated", ("seed", "vip", "ingress")),
    ("auto", True, "global", ("seed", "vip", "ingress")),
    ("auto", False, "global", ("seed", "dnsrr", "host")),
    ("auto", False, "replicated", ("dns", "dnsrr", "none")),
    ("dns", True, "replicated", ("dns", "dnsrr", "none")),
    ("seed", False, "global", ("seed", "dnsrr", "host")),
])
def test_choose_layout(requested, ipvs, mode, expected):
    lay = svc.choose_layout(requested, ipvs, mode)
    assert (lay.name, lay.endpoint_mode, lay.publish_mode) == expected and lay.reason


# modules.dep lines as Debian 12 (plain .ko), RHEL 9 (.ko.xz) and Ubuntu 24.04 (.ko.zst) ship them
DEP_DEBIAN = ("kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko\n"
              "kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko "
              "kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko "
              "kernel/lib/libcrc32c.ko\n"
              "kernel/net/netfilter/ipvs/ip_vs_ftp.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_nat.ko\n")
DEP_RHEL = "kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz\n"
DEP_UBUNTU = "kernel/net/netfilter/ipvs/ip_vs.ko.zst: kernel/net/netfilter/nf_conntrack.ko.zst\n"
DEP_NO_IPVS = ("kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/nf_conntrack.ko\n"
               "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko\n")


@pytest.mark.parametrize(("dep", "builtin", "expected"), [
    (DEP_DEBIAN, "", True),
    (DEP_RHEL, None, True),
    (DEP_UBUNTU, None, True),
    (DEP_NO_IPVS, "kernel/net/bridge/bridge.ko\n", False),  # ip_vs_rr alone is not ip_vs
    (DEP_NO_IPVS, "kernel/net/netfilter/ipvs/ip_vs.ko\n", True),  # built into the kernel
    (None, None, False),  # no /lib/modules for the running kernel (a container, a stripped host)
])
def test_ipvs_availability_read_from_the_kernels_module_lists(dep, builtin, expected):
    assert svc.kernel_module_available("ip_vs", dep, builtin) is expected


def test_module_names_treat_dash_and_underscore_alike():
    assert svc.kernel_module_available("ip-vs", DEP_RHEL, None)
    assert svc.kernel_module_available("br_netfilter", None, "kernel/net/bridge/br-netfilter.ko\n")


def test_choose_layout_refuses_seed_replicated_without_ipvs():
    with pytest.raises(InvalidInput, match="IPVS"):
        svc.choose_layout("seed", False, "replicated")


def test_convergence_from_recording_and_with_a_rejected_task():
    conv = svc.convergence(live(), nodes())
    assert conv.converged and (conv.running, conv.desired) == (10, 10)
    raw = load("tasks_whoami_replicated.json")
    running = [t for t in raw if t["Status"]["State"] == "running"]
    broken = dict(running[0], Status=dict(running[0]["Status"], State="rejected", Err="No such image: x:1"))
    bad = m.parse_service(load("service_whoami_replicated.json"), [broken, *running[1:]], svc.HASH_LABEL)
    conv = svc.convergence(bad, nodes())
    assert not conv.converged and conv.running == 9
    assert any("rejected (No such image: x:1)" in line and "on dock" in line for line in conv.not_running)


def test_convergence_names_the_failure_while_the_replacement_waits_out_the_restart_delay():
    """After a rejection swarm creates a replacement task for the slot that sits in new/ready with desired
    state ready during the restart delay; the reason must still come from the rejected one."""
    raw = load("tasks_whoami_replicated.json")
    running = [t for t in raw if t["Status"]["State"] == "running"]
    first = running[0]
    rejected = dict(first, ID="t-old", DesiredState="shutdown",
                    Status=dict(first["Status"], State="rejected", Err="No such image: x:1",
                                Timestamp="2026-01-01T00:00:01Z"))
    waiting = dict(first, ID="t-new", DesiredState="ready", NodeID="",
                   Status=dict(first["Status"], State="ready", Err="", Message="restart delay",
                               Timestamp="2026-01-01T00:00:02Z"))
    bad = m.parse_service(load("service_whoami_replicated.json"), [rejected, waiting, *running[1:]],
                          svc.HASH_LABEL)
    conv = svc.convergence(bad, nodes())
    assert not conv.converged and conv.running == 9
    assert [line for line in conv.not_running if "No such image: x:1" in line], conv.not_running
    assert not [line for line in conv.not_running if "not scheduled yet" in line]


def test_eligible_and_capacity():
    ns = nodes()
    assert svc.eligible_count(ns, ["node.role==worker"]) == 2
    assert svc.eligible_count(ns, ["node.role!=worker"]) == 1
    assert svc.capacity(ns, ["node.role==worker"], 5, 0) == 10
    assert svc.capacity(ns, ["node.role==worker"], 0, 0) > 1000


def test_drill_safety_checks():
    ns = nodes()
    dock3 = next(n for n in ns if n.hostname == "dock3")
    dock1 = next(n for n in ns if n.hostname == "dock1")
    assert check_drill("dock3", "worker", ns, dock3.node_id, "replicated", 10, ["node.role==worker"], 0, 0) > 10
    with pytest.raises(SafetyCheckFailed, match="can hold 5"):
        check_drill("dock3", "worker", ns, dock3.node_id, "replicated", 10, ["node.role==worker"], 5, 0)
    with pytest.raises(SafetyCheckFailed, match="manager"):
        check_drill("dock1", "manager", ns, dock1.node_id, "replicated", 10, [], 0, 0)
    down = [dataclasses.replace(n, state="down") if n.hostname == "dock2" else n for n in ns]
    with pytest.raises(SafetyCheckFailed, match="dock2"):
        check_drill("dock3", "worker", down, dock3.node_id, "replicated", 2, [], 0, 0)
    mem = dock3.memory_bytes
    with pytest.raises(SafetyCheckFailed, match="memory reservation"):
        check_drill("dock3", "worker", ns, dock3.node_id, "replicated", 10, ["node.role==worker"], 0, mem // 4)


SEED = hx.HaproxyConfig("seed", 80, 8404, "/stats", "whoami", 80,
                        servers=(hx.Server("dock2", "10.250.77.12", 8080), hx.Server("dock3", "10.250.77.13", 8080)))
DNS = hx.HaproxyConfig("dns", 80, 8404, "/stats", "whoami", 80, slots=15)


@pytest.mark.parametrize(("cfg", "golden"), [(SEED, "haproxy_seed.cfg"), (DNS, "haproxy_dns.cfg")])
def test_render_golden(cfg, golden):
    text = hx.render_config(cfg)
    path = GOLDEN / golden
    if os.environ.get("POWEROPS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_render_content_that_matters():
    seed, dns = hx.render_config(SEED), hx.render_config(DNS)
    assert "balance roundrobin" in seed and "server dock3 10.250.77.13:8080" in seed and "resolvers" not in seed
    assert "check inter 500ms fall 2" in seed and "stats uri /stats" in seed
    assert "server-template web 15 tasks.whoami:80 resolvers docker" in dns and "nameserver dns1 127.0.0.11:53" in dns


def test_config_validation():
    with pytest.raises(InvalidInput):
        hx.HaproxyConfig("seed", 80, 8404, "/stats", "whoami", 80)  # no servers
    with pytest.raises(InvalidInput):
        hx.HaproxyConfig("dns", 80, 80, "/stats", "whoami", 80)
    with pytest.raises(InvalidInput):
        hx.HaproxyConfig("dns", 80, 8404, "/stats; rm", "whoami", 80)
    with pytest.raises(InvalidInput):
        hx.HaproxyConfig("seed", 80, 8404, "/stats", "w", 80, servers=(hx.Server("a b", "10.0.0.1", 80),))


def test_parse_stats_dns_recording():
    stats = hx.parse_stats_csv((DATA / "haproxy_stats_dns.csv").read_text())
    assert len(stats) == 20
    active = hx.active_servers(stats)
    assert len(active) == 10 and all(s.up and s.status == "UP" for s in active)
    assert all(hx.host_of(s.addr).startswith("10.0.") for s in active)
    assert all(s.status == "MAINT (resolution)" and not s.addr for s in stats if s not in active)


def test_parse_stats_seed_recording_down():
    stats = hx.parse_stats_csv((DATA / "haproxy_stats_seed.csv").read_text())
    assert [(s.name, s.status, s.addr) for s in stats] == [("dock2", "DOWN", "10.250.77.12:8080"),
                                                          ("dock3", "DOWN", "10.250.77.13:8080")]
    assert not any(s.up for s in stats)


def test_parse_stats_refuses_other_text():
    with pytest.raises(InvalidInput):
        hx.parse_stats_csv("<html>nope</html>")


def test_endpoints():
    assert hx.endpoints("seed", "10.250.77.20", "10.250.77.11", 80, 8404, "/stats") == (
        "http://10.250.77.20:80/", "http://10.250.77.20:8404/stats")
    assert hx.endpoints("dns", None, "10.250.77.11", 80, 8404, "/stats")[0] == "http://10.250.77.11:80/"
    with pytest.raises(InvalidInput):
        hx.endpoints("seed", None, "10.250.77.11", 80, 8404, "/stats")
