"""The out-of-the-box demo: the same flows a site runs, against the lab's inventory of blocks.

Each area brings its lab components up and runs its flows; ``powerops demo --only foundation,hmc`` limits it.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from lab.context import LabContext

BASE_TAG = "powerops/debian:bookworm"


def _say(msg: str) -> None:
    print(f"[powerops] {msg}", flush=True)


def ensure_demo_secret(lab: LabContext) -> str:
    """The registry password lives in a Prefect Secret block; flows get its NAME, never the value."""
    from prefect.blocks.system import Secret

    path = lab.state_dir / "registry-password"
    if not path.exists():
        path.write_text(pysecrets.token_urlsafe(18))
        path.chmod(0o600)
    Secret(value=path.read_text().strip()).save("lab-registry-password", overwrite=True)
    return "lab-registry-password"


def run_foundation(lab: LabContext) -> list[str]:
    from flows.build_app_image import AppImageParams, build_app_image_flow
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.registry_gc import RegistryGcParams, RetentionRuleParams, registry_gc
    from flows.stand_up_registry import RegistryParams, stand_up_registry

    secret = ensure_demo_secret(lab)
    base = build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock1", tag=BASE_TAG))
    reg = stand_up_registry(RegistryParams(
        registry_host="lab-dock1", password_secret=secret, base_image=BASE_TAG,
        trust_hosts=["lab-dock2", "lab-dock3"], save_block_as="lab-registry"))
    whoami = build_app_image_flow(AppImageParams(
        app="whoami", base_image=BASE_TAG, build_host="lab-build", target_host="lab-dock1",
        tag="powerops/whoami:1", push_to="lab-registry"))
    gc = registry_gc(RegistryGcParams(registry_host="lab-dock1", registry="lab-registry",
                                      rules=[RetentionRuleParams(repositories="*", keep=3)]))  # dry run
    return [f"base image {base['tag']}: {base['action']} ({base['seconds']}s)",
            f"registry {reg['address']}: {', '.join(map(str, reg['applied'])) or 'unchanged'}; "
            f"catalog {reg['catalog']} ({reg['seconds']}s)",
            f"whoami image: {whoami['action']}, pushed {whoami['pushed']}",
            f"registry-gc (dry run): {_short(gc, ('tags_read', 'tags_to_delete', 'bytes_before', 'blobs_unreferenced_now'))}"]


def run_swarm(lab: LabContext) -> list[str]:
    """A 3-node swarm (sw1 manager, sw2/sw3 workers) with haproxy in front; 10 whoami replicas; spread and a
    node-loss drill."""
    from flows._sync import call_flow
    from flows.bootstrap_swarm import BootstrapSwarmParams, bootstrap_swarm
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.deploy_swarm_service import DeploySwarmServiceParams, deploy_swarm_service
    from flows.prove_swarm_service import ProveSwarmServiceParams, prove_swarm_service
    from flows.stand_up_registry import RegistryParams, stand_up_registry

    secret = ensure_demo_secret(lab)
    build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-sw1", tag=BASE_TAG))
    reg = stand_up_registry(RegistryParams(
        registry_host="lab-dock1", password_secret=secret, base_image=BASE_TAG, save_block_as="lab-registry",
        trust_hosts=["lab-dock2", "lab-dock3", "lab-sw1", "lab-sw2", "lab-sw3"]))
    boot = call_flow(bootstrap_swarm, BootstrapSwarmParams(inventory="lab-swarm"))
    dep = call_flow(deploy_swarm_service, DeploySwarmServiceParams(
        inventory="lab-swarm", service="whoami", image=f"{reg['address']}/powerops/whoami:1",
        registry="lab-registry", haproxy_base_image=BASE_TAG, build_host="lab-build", mode="replicated",
        replicas=10, site_files={"motd": "powerops demo\n"}))
    proof = call_flow(prove_swarm_service, ProveSwarmServiceParams(
        inventory="lab-swarm", service="whoami", requests=5000, drill=True, confirm=True, victim="lab-sw3"))
    return [f"bootstrap-swarm: applied {boot['applied'] or 'nothing (converged)'}",
            f"deploy-swarm-service: {_short(dep, ('layout', 'service_action', 'applied'))}",
            f"prove-swarm-service: {_short(proof, ('layout', 'containers', 'max_deviation_pct', 'p_value', 'failed'))}"
            f"; drill {_short(proof.get('drill'))}"]


def run_hmc(lab: LabContext) -> list[str]:
    import lab.hmc_sim as sim
    from flows.ensure_vnic import BackingDeviceParam, EnsureVnicParams, ensure_vnic
    from flows.lpm_readiness import LpmReadinessParams, lpm_readiness
    from flows.vnic_failover_drill import VnicFailoverDrillParams, vnic_failover_drill
    from flows.vnic_prerequisites import VnicPrerequisitesParams, vnic_prerequisites

    vios = ["lab-vios1", "lab-vios2"]
    pre = vnic_prerequisites(VnicPrerequisitesParams(hmc_block="lab-hmc1", managed_system=sim.SYSTEM,
                                                     vios_blocks=vios))
    ens = ensure_vnic(EnsureVnicParams(
        hmc_block="lab-hmc1", managed_system=sim.SYSTEM, lpar="lpar1", vlan=3455, auto_failover=True,
        backing_devices=[BackingDeviceParam(vios="vios1", adapter_id=1, phys_port_id=0, priority=10),
                         BackingDeviceParam(vios="vios2", adapter_id=2, phys_port_id=0, priority=20)],
        vios_blocks=vios))
    drill = vnic_failover_drill(VnicFailoverDrillParams(
        hmc_block="lab-hmc1", managed_system=sim.SYSTEM, lpar="lpar1", lpar_address=sim.NODES["lpar1"][1],
        vios_blocks=vios, client_block="lab-lpar1", confirm=True, timeout_seconds=120))
    lpm = lpm_readiness(LpmReadinessParams(hmc_block="lab-hmc1", source_system=sim.SYSTEM,
                                           target_system=sim.TARGET_SYSTEM, lpar="lpar1"))
    return [f"vnic-prerequisites: {_short(pre)}", f"ensure-vnic: {_short(ens)}",
            f"vnic-failover-drill: {_short(drill)}", f"lpm-readiness: {_short(lpm)}"]


def run_mirror(lab: LabContext) -> list[str]:
    from lab.mirror import demo

    return list(demo.run(lab))


def run_novalink(lab: LabContext) -> list[str]:
    """Prepare the install server, then a real network boot of the emulated partition through the HMC."""
    from prefect.blocks.system import Secret

    import lab.netboot as nb
    from core.novalink.model import InstallMedia, NovaLinkPartition
    from flows.novalink_netboot_install import NovaLinkNetbootParams, novalink_netboot_install
    from flows.novalink_post_install import PostInstallParams
    from flows.prepare_novalink_install import PrepareNovaLinkParams
    from lab.netboot import novalink_host

    path = lab.state_dir / "novalink-admin-password"
    if not path.exists():
        path.write_text(pysecrets.token_urlsafe(15))
        path.chmod(0o600)
    Secret(value=path.read_text().strip()).save("lab-novalink-admin-password", overwrite=True)
    part = NovaLinkPartition(
        partition_name=nb.LPAR_NAME, managed_system=nb.managed_system(), mac=nb.LPAR_MAC, ip=nb.LPAR_IP,
        gateway=f"{nb.INST_IP.rsplit('.', 1)[0]}.1", netmask="255.255.255.0", dns=[nb.INST_IP],
        domain="powerops.test", ntp=[nb.INST_IP], timezone="Europe/Paris")
    prepare = PrepareNovaLinkParams(
        install_server=nb.BLOCK_SERVER, media_source=str(nb.Dirs(lab.state_dir / "netboot").media_src),
        media=InstallMedia(name=nb.MEDIA_NAME, installer="debian-installer"),
        admin_password_secret="lab-novalink-admin-password", partitions=[part])  # noqa: S106 - a block name
    try:
        # the lab cannot run the installer itself (no POWER kernel of NovaLink): the post-install step goes to
        # the lab's stand-in of the installed host (a chrooted Debian over SSH, docs/novalink.md)
        post = PostInstallParams(novalink_ssh={nb.LPAR_NAME: "lab-novalink-host-ssh"},
                                 mirror_url=novalink_host.mirror_url(nb.INST_IP), rsct_key="rsct-gpg-pub.key")
        out = novalink_netboot_install(NovaLinkNetbootParams(prepare=prepare, hmc=nb.hmc_block_name(),
                                                             goal="config_fetched", deadline_s=900.0,
                                                             post_install=post))
    finally:
        nb.stop_partition(lab)
    timeline = dict(out["timelines"][nb.LPAR_NAME])  # type: ignore[index]
    return [f"{nb.LPAR_NAME} netbooted: " + ", ".join(
        f"{k} {v:.0f}s" for k, v in timeline.items() if isinstance(v, int | float)),
        _post_install_line(out["post_install"], nb.LPAR_NAME)]


def _post_install_line(post: object, lpar: str) -> str:
    res = post.get(lpar, {}) if isinstance(post, dict) else {}
    missing = res.get("missing_backup_entries") or []
    return (f"{lpar} post-install: changed {', '.join(res.get('changed') or []) or 'nothing'}; installed "
            f"{', '.join(res.get('installed') or []) or 'nothing new'}; pvm-backup crontab "
            + ("complete" if not missing else "MISSING " + "; ".join(missing)))


def run_powervc(lab: LabContext) -> list[str]:
    """Tenant isolation on the lab's real OpenStack: plan, apply + verify as the tenant, drift check; a cinder
    configuration check."""
    from prefect.blocks.system import Secret

    from flows.isolate_tenant import IsolateTenantParams, isolate_tenant
    from flows.powervc_maintenance import CinderLimitParams, powervc_cinder_limits

    path = lab.state_dir / "powervc-tenant-password"
    if not path.exists():
        path.write_text(pysecrets.token_urlsafe(15))
        path.chmod(0o600)
    Secret(value=path.read_text().strip()).save("lab-hb01-admin-password", overwrite=True)
    base = IsolateTenantParams(cloud_block="lab-powervc", project="hb01", user="hb01_admin",
                               password_secret_block="lab-hb01-admin-password", aggregates=["hb01_mn"],  # noqa: S106 - a block name
                               allowed_volume_types=["svc1 base template"])
    plan = isolate_tenant(base)
    applied = isolate_tenant(base.model_copy(update={"mode": "apply"}))
    drift = isolate_tenant(base.model_copy(update={"mode": "drift"}))
    limits = powervc_cinder_limits(CinderLimitParams(cloud_block="lab-powervc", expected=10000,
                                                     fail_on_disagreement=False))
    return [f"isolate-tenant plan: {_short(plan)}", f"isolate-tenant apply+verify: {_short(applied)}",
            f"isolate-tenant drift: {_short(drift)}", f"powervc-cinder-limits: {_short(limits)}"]


def run_ops(lab: LabContext) -> list[str]:
    import lab.ops as ops

    return [ops.demo_ticket(lab)]


def _short(result: object, keys: tuple[str, ...] = ("summary", "status", "ok", "passed", "changed", "applied",
                                                    "lost", "active_after", "aligned")) -> str:
    if isinstance(result, dict):
        parts = [f"{k}={result[k]}" for k in keys if k in result]
        if not parts:
            parts = [f"{k}={str(v)[:60]}" for k, v in list(result.items())[:6]]
        return ", ".join(parts)[:400]
    return str(result)[:300]


@dataclass(frozen=True)
class Area:
    name: str
    components: tuple[str, ...]
    run: Callable[[LabContext], list[str]]


AREAS: tuple[Area, ...] = (
    Area("foundation", ("lab.docker_hosts",), run_foundation),
    Area("swarm", ("lab.docker_hosts", "lab.swarm"), run_swarm),
    Area("hmc", ("lab.hmc_sim",), run_hmc),
    Area("mirror", ("lab.mirror",), run_mirror),
    Area("novalink", ("lab.hmc_sim", "lab.netboot"), run_novalink),
    Area("powervc", ("lab.openstack",), run_powervc),
    Area("ops", ("lab.ops",), run_ops),
)


def components_of(names: list[str] | None) -> list[str]:
    out: list[str] = []
    for a in AREAS:
        if names is None or a.name in names:
            out += [c for c in a.components if c not in out]
    return out


def run(lab: LabContext, only: list[str] | None = None) -> int:
    from flows._ops import install_redaction
    from lab.cli import lab_blocks, lab_up, server_up

    t0 = time.monotonic()
    api = server_up(lab)
    os.environ["PREFECT_API_URL"] = api
    install_redaction()  # the demo runs flows in-process: mask every secret it loads
    areas = [a for a in AREAS if only is None or a.name in only]
    failed: list[str] = []
    for area in areas:
        ta = time.monotonic()
        _say(f"== {area.name}: lab components {', '.join(area.components)}")
        try:
            lab_up(lab, list(area.components))
            lab_blocks(lab, list(area.components))
            for line in area.run(lab):
                _say(f"   {area.name}: {line}")
            _say(f"== {area.name}: done in {time.monotonic() - ta:.0f}s")
        except Exception as exc:  # the demo goes on with the other areas and says what failed
            failed.append(area.name)
            _say(f"== {area.name}: FAILED after {time.monotonic() - ta:.0f}s: {type(exc).__name__}: {exc}")
    ui = api.removesuffix("/api")
    _say(f"demo done in {time.monotonic() - t0:.0f}s" + (f"; failed areas: {', '.join(failed)}" if failed else ""))
    _say(f"Prefect UI: {ui}  (flow runs: {ui}/runs, deployments: {ui}/deployments)")
    _say("stop everything with: .venv/bin/powerops lab down")
    return 1 if failed else 0
