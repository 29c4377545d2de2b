"""Swarm benchmark: prints, side by side in one run,

1. bring-up (bootstrap-swarm + deploy-swarm-service, DNS layout, 10 replicas, haproxy on the overlay) through the
   flows versus the same docker/haproxy commands run as a plain script (docker CLI on the lab sockets);
2. requests per second through haproxy (seed layout on lb1) versus straight at one backend;
3. the spread of 10,000 requests through haproxy (max deviation from the mean, chi-square p-value);
4. the node-loss drill: seconds until haproxy marks the lost node DOWN, until the replicas are back, failed
   requests.

Targets: bring-up <= 1.15x the plain script; max deviation <= 3% over 10,000 requests; DOWN within 3 s;
<= 0.5% failed requests during the drill.

Run as root with the lab available: ``.venv/bin/python benchmarks/swarm_bench.py [--requests N] [--rounds R]
[--bring-up-only] [--heartbeat-off]``. The bring-up is measured ``--rounds`` times (default 3), flow and plain script alternating
which goes first (the machine is shared: the median of the per-round ratios is the figure). It uses the
swarm lab's own nodes (sw1-sw3, lb1), starts a Prefect server unless PREFECT_API_URL is set, and leaves the
swarm lab nodes out of any swarm at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVICE = "whoami-bench"
BASE = "powerops/debian:bookworm"
TAG = "powerops/whoami:swarm-bench"


def _docker(lab, node: str, *args: str, check: bool = True) -> str:
    from lab.docker_hosts import socket_path

    r = subprocess.run(["docker", "-H", f"unix://{socket_path(lab, node)}", *args], capture_output=True, text=True,
                       timeout=300)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} on {node}: {r.stderr.strip()}")
    return r.stdout.strip()


def _prepare(lab) -> str:
    from flows.build_app_image import AppImageParams, build_app_image_flow
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.stand_up_registry import RegistryParams, stand_up_registry
    from lab import docker_hosts, swarm
    from lab.demo import ensure_demo_secret

    docker_hosts.up(lab)
    swarm.up(lab)
    docker_hosts.register_blocks(lab)
    swarm.register_blocks(lab)
    swarm.reset_swarm(lab)
    secret = ensure_demo_secret(lab)
    for host in ("lab-dock1", "lab-sw1"):
        build_base_image(BaseImageParams(build_host="lab-build", target_host=host, tag=BASE))
    stand_up_registry(RegistryParams(registry_host="lab-dock1", password_secret=secret, base_image=BASE,
                                     trust_hosts=["lab-dock2", "lab-dock3", "lab-sw1", "lab-sw2", "lab-sw3"],
                                     save_block_as="lab-registry"))
    out = build_app_image_flow(AppImageParams(app="whoami", base_image=BASE, build_host="lab-build",
                                              target_host="lab-dock1", tag=TAG, push_to="lab-registry"))
    return str(out["pushed"]).split("@", 1)[0]


def _deploy_params(image: str, **kw):
    from flows.deploy_swarm_service import DeploySwarmServiceParams

    base = dict(inventory="lab-swarm", service=SERVICE, image=image, registry="lab-registry", mode="replicated",
                replicas=10, haproxy_base_image=BASE, build_host="lab-build")
    base.update(kw)
    return DeploySwarmServiceParams(**base)


def flow_bring_up(image: str) -> float:
    from flows._sync import call_flow
    from flows.bootstrap_swarm import BootstrapSwarmParams, bootstrap_swarm
    from flows.deploy_swarm_service import deploy_swarm_service

    t0 = time.monotonic()
    call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    call_flow(deploy_swarm_service, _deploy_params(image))
    return time.monotonic() - t0


def plain_bring_up(lab, image: str) -> float:
    """The same steps as plain docker CLI commands + haproxy -c, the way a shell script would do them."""
    from core.swarm import haproxy as hx
    from lab.swarm import SWARM_NODES

    mgr, workers = "sw1", ["sw2", "sw3"]
    ip = SWARM_NODES
    cfg_dir = "/etc/powerops/haproxy/plain-bench"
    t0 = last = time.monotonic()
    marks: list[tuple[str, float]] = []

    def mark(step: str) -> None:
        nonlocal last
        now = time.monotonic()
        marks.append((step, now - last))
        last = now

    _docker(lab, mgr, "swarm", "init", "--advertise-addr", ip[mgr], "--listen-addr", f"{ip[mgr]}:2377",
            "--dispatcher-heartbeat", "1s")
    token = _docker(lab, mgr, "swarm", "join-token", "-q", "worker")
    for w in workers:
        _docker(lab, w, "swarm", "join", "--token", token, "--advertise-addr", ip[w], "--listen-addr",
                f"{ip[w]}:2377", f"{ip[mgr]}:2377")
    while True:
        st = _docker(lab, mgr, "node", "ls", "--format", "{{.Status}} {{.Availability}}").splitlines()
        if len(st) == 3 and all(s == "Ready Active" for s in st):
            break
        time.sleep(0.3)
    mark("init + joins + Ready")
    _docker(lab, mgr, "network", "create", "-d", "overlay", "--attachable", "powerops")
    os.makedirs("/srv/powerops/whoami-site", exist_ok=True)
    _docker(lab, mgr, "service", "create", "--detach", "--name", SERVICE, "--replicas", "10", "--endpoint-mode",
            "dnsrr", "--init", "--constraint", "node.role==worker", "--network", "powerops", "--mount",
            "type=bind,src=/srv/powerops/whoami-site,dst=/srv/www/site,ro", image)
    while True:
        ps = _docker(lab, mgr, "service", "ps", SERVICE, "--filter", "desired-state=running", "--format",
                     "{{.CurrentState}}").splitlines()
        if len(ps) == 10 and all(s.startswith("Running") for s in ps):
            break
        time.sleep(0.5)
    mark("network + service created + converged")
    text = hx.render_config(hx.HaproxyConfig("dns", 80, 8404, "/stats", SERVICE, 80, slots=20))
    os.makedirs(cfg_dir, exist_ok=True)
    Path(cfg_dir, "haproxy.cfg").write_text(text)
    vol = f"{cfg_dir}:/usr/local/etc/haproxy:ro"
    _docker(lab, mgr, "run", "--rm", "--network", "none", "-v", vol, "powerops/haproxy:2.6", "haproxy", "-c", "-f",
            "/usr/local/etc/haproxy/haproxy.cfg")
    mark("haproxy -c")
    _docker(lab, mgr, "run", "-d", "--name", "powerops-haproxy-plain", "--network", "powerops", "-p", "80:80",
            "-p", "8404:8404", "-v", vol, "powerops/haproxy:2.6")
    from tasks.haproxy import wait_for_backends_up

    mark("haproxy container")
    wait_for_backends_up.fn(f"http://{ip[mgr]}:8404/stats", 10, 120)
    mark("backends UP")
    print("plain script steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in marks), file=sys.stderr, flush=True)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--rps-requests", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3, help="bring-up measurements (flow vs plain script)")
    ap.add_argument("--bring-up-only", action="store_true", help="only the bring-up comparison")
    ap.add_argument("--heartbeat-off", action="store_true",
                    help="switch Prefect's flow-run heartbeat off in this process (as the test suite does); by "
                    "default the flows run with Prefect's default heartbeat, as a deployment runs them")
    args = ap.parse_args()
    from lab.context import LabContext

    server_home = None
    if not os.environ.get("PREFECT_API_URL"):
        from lab import prefect_server as ps

        server_home = tempfile.mkdtemp(prefix="powerops-swarm-bench-")
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ["PREFECT_API_URL"] = ps.start(server_home, port=port).api_url
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    pinned = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if args.heartbeat_off else {}

    from lab import swarm

    lab = LabContext()
    rows: list[tuple[str, str, str, str]] = []
    try:
        with temporary_settings(updates=pinned):
            image = _prepare(lab)
            flow_bring_up(image)  # warm-up: images pulled on the nodes, haproxy image built
            swarm.reset_swarm(lab)
            ratios = []
            for i in range(args.rounds):
                times = {}
                for kind in (("flow", "plain") if i % 2 == 0 else ("plain", "flow")):
                    if kind == "flow":
                        times[kind] = flow_bring_up(image)
                    else:
                        times[kind] = plain_bring_up(lab, image)
                        _docker(lab, "sw1", "rm", "-f", "powerops-haproxy-plain", check=False)
                    swarm.reset_swarm(lab)
                ratios.append(times["flow"] / times["plain"])
                rows.append((f"bring-up round {i + 1} (bootstrap + deploy 10 replicas + haproxy)",
                             f"{times['flow']:.2f} s flow", f"{times['plain']:.2f} s plain script",
                             f"ratio {ratios[-1]:.2f}x"))
                print("  ".join(rows[-1]), flush=True)
            rows.append(("bring-up: median of the rounds", "", "",
                         f"ratio {statistics.median(ratios):.2f}x (target <= 1.15x)"))
            if args.bring_up_only:
                return _print(rows)
            flow_bring_up(image)

            from flows._sync import call_flow
            from flows.prove_swarm_service import ProveSwarmServiceParams, prove_swarm_service

            out = call_flow(prove_swarm_service, ProveSwarmServiceParams(
                inventory="lab-swarm", service=SERVICE, requests=args.requests, drill=True, confirm=True,
                chart_dir=str(lab.state_dir / "swarm-bench")))
            rows.append((f"spread of {out['requests']} requests (DNS layout, {out['containers']} containers)",
                         f"max deviation {out['max_deviation_pct']:.2f}%", f"chi-square p={out['p_value']:.3f}",
                         f"failed {out['failed']}; {out['rps']:.0f} req/s (target deviation <= 3%)"))
            d = out["drill"]
            rows.append(("drill: haproxy marks the lost node DOWN", f"{d['detected_s']:.2f} s", "",
                         "target <= 3 s"))
            rows.append(("drill: replicas back on the remaining nodes", f"{d['recovered_s']:.2f} s", "", ""))
            rows.append(("drill: failed requests", f"{d['failed']} of {d['requests']}",
                         f"{d['failed_pct']:.3f}%", "target <= 0.5%"))

            # requests per second: through haproxy (seed layout on lb1) vs straight at one backend
            from flows.deploy_swarm_service import deploy_swarm_service
            from tasks.haproxy import send_requests

            seed = call_flow(deploy_swarm_service, _deploy_params(image, mode="global"))
            through, t_through = send_requests.fn(seed["url"], args.rps_requests, 8)
            direct, t_direct = send_requests.fn(f"http://{swarm.SWARM_NODES['sw2']}:8080/", args.rps_requests, 8)
            rows.append(("requests/s (8 parallel, busybox CGI)",
                         f"{len(through) / t_through:.0f} via haproxy", f"{len(direct) / t_direct:.0f} direct",
                         f"failed {through.count(None)} / {direct.count(None)}"))
    finally:
        swarm.reset_swarm(lab)
        if server_home:
            from lab import prefect_server as ps

            ps.stop(server_home)
    return _print(rows)


def _print(rows: list[tuple[str, str, str, str]]) -> int:
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
