"""The registry of deployments: one entry per procedure (flow), with its lock targets, approval rule, schedules.

Adding a flow = one ``Procedure(...)`` entry below. A flow in ``flows/`` without an entry is still deployed
(discovered from the source: ``@flow(name=...)`` on a function taking one pydantic ``params`` model), with no
lock, no approval and no schedule, until someone adds its entry.

Every deployment runs a thin wrapper flow ``ops-<name>`` (deployments/ops_flows.py) that installs secret
redaction, asks for approval when the rule says so (after publishing the plan), holds the per-target locks
while the flow runs as a sub-run, and publishes the run summary with links to the related runs.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from core.ops.approval import NO_APPROVAL, ApprovalRule
from core.ops.locks import LockTarget

REPO = Path(__file__).resolve().parent.parent
WORK_POOL = "powerops"


@dataclass(frozen=True)
class Schedule:
    """A cron schedule. ``active`` is the documented default (docs/ticketing.md "Schedules")."""

    cron: str
    active: bool = False
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)   # fields of the flow's model (-> {"params": ...})
    why: str = ""


@dataclass(frozen=True)
class Procedure:
    name: str                      # deployment name = the ticket's "procedure"
    flow: str                      # "flows.stand_up_registry:stand_up_registry"
    model: str                     # "flows.stand_up_registry:RegistryParams"
    description: str
    locks: tuple[LockTarget, ...] = ()
    approval: ApprovalRule = NO_APPROVAL
    on_lock_busy: Literal["wait", "fail"] = "wait"
    # parameters that turn the flow into a plan-only run (published before an approval pause)
    plan_overrides: dict[str, Any] | None = None
    schedules: tuple[Schedule, ...] = ()
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)   # deployment defaults
    discovered: bool = False

    @property
    def wrapper_name(self) -> str:
        return "ops_" + self.name.replace("-", "_")

    @property
    def entrypoint(self) -> str:
        return f"deployments/ops_flows.py:{self.wrapper_name}"

    def load_model(self) -> type[BaseModel]:
        mod, attr = self.model.split(":")
        m = getattr(importlib.import_module(mod), attr)
        if not (isinstance(m, type) and issubclass(m, BaseModel)):
            raise TypeError(f"{self.model} is not a pydantic model")
        return m

    def load_flow(self) -> Any:
        mod, attr = self.flow.split(":")
        return getattr(importlib.import_module(mod), attr)


DRY = {"dry_run": True}
SSH, DOCKER, NLI = "powerops-ssh-target", "powerops-docker-host", "powerops-novalink-install-server"
HMC = LockTarget("hmc", ("hmc_block", "managed_system"), blocks=(("hmc_block", "powerops-hmc-console"),))
PVC = LockTarget("powervc", ("cloud_block",), blocks=(("cloud_block", "powerops-powervc"),))
SWARM = LockTarget("swarm", ("inventory",), blocks=(("inventory", "powerops-swarm-inventory"),))

PROCEDURES: tuple[Procedure, ...] = (
    # --- foundation
    Procedure("build-base-image", "flows.build_base_image:build_base_image", "flows.build_base_image:BaseImageParams",
              "Docker base image from scratch (debootstrap / dnf --installroot), cached on its inputs.",
              locks=(LockTarget("build-host", ("build_host",), blocks=(("build_host", SSH),)), LockTarget("docker-host", ("target_host",), blocks=(("target_host", DOCKER),))),
              tags=("foundation",)),
    Procedure("build-app-image", "flows.build_app_image:build_app_image_flow", "flows.build_app_image:AppImageParams",
              "Application image FROM a base image (bundled recipe or your Dockerfile), optional push.",
              locks=(LockTarget("docker-host", ("target_host",), blocks=(("target_host", DOCKER),)),), tags=("foundation",)),
    Procedure("stand-up-registry", "flows.stand_up_registry:stand_up_registry",
              "flows.stand_up_registry:RegistryParams",
              "Private registry (TLS, htpasswd), trusted and proven on every Docker host.",
              locks=(LockTarget("registry", ("registry_host", "port"), blocks=(("registry_host", DOCKER),)),), plan_overrides=DRY, tags=("foundation",)),
    Procedure("registry-gc", "flows.registry_gc:registry_gc", "flows.registry_gc:RegistryGcParams",
              "Prune old tags by retention rules, then registry garbage-collect (registry stopped for the sweep); "
              "reports the space freed.",
              locks=(LockTarget("registry", ("registry",), blocks=(("registry", "powerops-registry"),)),), on_lock_busy="fail",
              schedules=(Schedule("0 4 * * 6", active=False, parameters={"dry_run": False, "confirm": True},
                                  why="weekly registry garbage collection (Saturday 04:00 UTC; the registry is "
                                      "stopped for seconds); set registry_host, registry and rules in the "
                                      "schedule parameters, then activate"),),
              tags=("foundation", "maintenance")),
    # --- HMC / VIOS / vNIC
    Procedure("ensure-vnic", "flows.ensure_vnic:ensure_vnic", "flows.ensure_vnic:EnsureVnicParams",
              "Create or converge an SR-IOV vNIC with its backing devices.",
              locks=(HMC,), plan_overrides=DRY, tags=("hmc",)),
    Procedure("vnic-failover-drill", "flows.vnic_failover_drill:vnic_failover_drill",
              "flows.vnic_failover_drill:VnicFailoverDrillParams",
              "vNIC failover drill (VIOS shutdown or forced activation) with measured loss, then restore.",
              locks=(HMC,), on_lock_busy="fail",
              approval=ApprovalRule(always=True, reason="the drill disturbs the LPAR's network (VIOS shutdown "
                                    "or forced backing-device switch)"),
              tags=("hmc", "disruptive")),
    Procedure("vnic-prerequisites", "flows.vnic_prerequisites:vnic_prerequisites",
              "flows.vnic_prerequisites:VnicPrerequisitesParams",
              "Non-disruptive readiness check: firmware, VIOS level, SR-IOV capability for vNIC.",
              schedules=(Schedule("30 5 * * *", active=False, why="daily non-disruptive vNIC readiness check; "
                                  "set hmc_block/managed_system in the schedule parameters, then activate"),),
              tags=("hmc", "read-only")),
    Procedure("lpm-readiness", "flows.lpm_readiness:lpm_readiness", "flows.lpm_readiness:LpmReadinessParams",
              "Non-disruptive LPM readiness check of an LPAR between two managed systems.",
              tags=("hmc", "read-only")),
    # --- mirrors
    Procedure("mirror-apt", "flows.mirror_apt:mirror_apt", "flows.mirror_apt:MirrorAptParams",
              "Mirror an apt repository (signed, by-hash, snapshots).",
              locks=(LockTarget("mirror", ("destination.name",)),), on_lock_busy="fail",
              schedules=(Schedule("0 2 * * *", active=False, why="nightly mirror sync; set upstream and "
                                  "destination in the schedule parameters, then activate"),),
              tags=("mirror", "maintenance")),
    Procedure("mirror-yum", "flows.mirror_yum:mirror_yum", "flows.mirror_yum:MirrorYumParams",
              "Mirror a yum/dnf repository (signed repomd, snapshots).",
              locks=(LockTarget("mirror", ("destination.name",)),), on_lock_busy="fail",
              schedules=(Schedule("30 2 * * *", active=False, why="nightly mirror sync; set upstream and "
                                  "destination in the schedule parameters, then activate"),),
              tags=("mirror", "maintenance")),
    Procedure("build-wheelhouse", "flows.build_wheelhouse:build_wheelhouse",
              "flows.build_wheelhouse:BuildWheelhouseParams",
              "ppc64le wheelhouse (pip download per platform) published as a PEP 503 index.",
              locks=(LockTarget("mirror", ("destination.name",)),),
              schedules=(Schedule("0 3 * * 0", active=False, why="weekly wheelhouse refresh"),),
              tags=("mirror", "maintenance")),
    Procedure("configure-mirror-clients", "flows.configure_mirror_clients:configure_mirror_clients",
              "flows.configure_mirror_clients:ConfigureMirrorClientsParams",
              "Point hosts' apt/yum/pip at the mirrors (signed-by keyrings).",
              locks=(LockTarget("host", ("targets",), blocks=(("targets", SSH),)),), tags=("mirror",)),
    # --- PowerVC
    Procedure("isolate-tenant", "flows.isolate_tenant:isolate_tenant", "flows.isolate_tenant:IsolateTenantParams",
              "Tenant isolation in PowerVC: plan / apply / drift / verify.",
              locks=(LockTarget("powervc", ("cloud_block", "project"), blocks=(("cloud_block", "powerops-powervc"),)),), plan_overrides={"mode": "plan"},
              approval=ApprovalRule(when={"mode": ("apply",)}, reason="tenant change on PowerVC"),
              schedules=(Schedule("0 6 * * *", active=False, parameters={"mode": "drift"},
                                  why="daily PowerVC drift check (mode=drift, changes nothing); set project, "
                                      "user, aggregates and volume types, then activate"),),
              tags=("powervc",)),
    # --- NovaLink
    Procedure("prepare-novalink-install", "flows.prepare_novalink_install:prepare_novalink_install",
              "flows.prepare_novalink_install:PrepareNovaLinkParams",
              "Netboot material for NovaLink installs (grub.cfg, pvm-install.cfg, TFTP/HTTP).",
              locks=(LockTarget("install-server", ("install_server",), blocks=(("install_server", NLI),)),), plan_overrides=DRY,
              tags=("novalink",)),
    Procedure("remove-novalink-install", "flows.prepare_novalink_install:remove_novalink_install",
              "flows.prepare_novalink_install:RemoveNovaLinkParams",
              "Remove partitions' netboot entries from the install server.",
              locks=(LockTarget("install-server", ("install_server",), blocks=(("install_server", NLI),)),), tags=("novalink",)),
    Procedure("novalink-netboot-install", "flows.novalink_netboot_install:novalink_netboot_install",
              "flows.novalink_netboot_install:NovaLinkNetbootParams",
              "Netboot-install NovaLink on partitions and follow the milestones.",
              locks=(LockTarget("install-server", ("prepare.install_server",), blocks=(("prepare.install_server", NLI),)),), on_lock_busy="fail",
              approval=ApprovalRule(always=True, reason="installs NovaLink on partitions (their disks are "
                                    "overwritten)"),
              tags=("novalink", "disruptive")),
    Procedure("novalink-post-install", "flows.novalink_post_install:novalink_post_install",
              "flows.novalink_post_install:NovaLinkPostInstallParams",
              "After a NovaLink install: pvm/rsct sources from the site mirror, packages, NTP/DNS, pvm-backup "
              "check, optional PowerVC registration.",
              locks=(LockTarget("novalink-host", ("post_install.novalink_ssh",),
                                blocks=(("post_install.novalink_ssh", SSH),)),), plan_overrides=DRY,
              tags=("novalink",)),
    Procedure("serve-mirrors", "flows.serve_mirrors:serve_mirrors", "flows.serve_mirrors:ServeMirrorsParams",
              "Serve the mirrors over HTTP from the mirror host.",
              locks=(LockTarget("mirror-host", ("mirror_host_block",), blocks=(("mirror_host_block", "powerops-mirror-host"),)),), plan_overrides=DRY, tags=("mirror",)),
    # --- PowerVC maintenance (lock: the PowerVC instance)
    *(Procedure(name, f"flows.powervc_maintenance:{name.replace('-', '_')}", f"flows.powervc_maintenance:{model}",
                desc, locks=(PVC,), plan_overrides={"mode": "plan"}, approval=rule, schedules=sched,
                tags=("powervc", "maintenance"))
      for name, model, desc, rule, sched in (
          ("powervc-group-snapshots", "GroupSnapshotParams", "Snapshot a volume group and prune old snapshots.",
           NO_APPROVAL, (Schedule("0 1 * * *", active=False, why="nightly group snapshot; set the group, then "
                                  "activate"),)),
          ("powervc-quota-class", "QuotaClassParams", "Cinder quota class defaults.", NO_APPROVAL, ()),
          ("powervc-cinder-limits", "CinderLimitParams", "Cinder API limits.", NO_APPROVAL, ()),
          ("powervc-ceilometer-retention", "CeilometerRetentionParams", "Ceilometer data retention.",
           NO_APPROVAL, ()),
          ("powervc-reset-instances", "ResetInstancesParams", "Reset stuck instances' states.",
           ApprovalRule(when={"mode": ("apply",)}, reason="resets instance states in PowerVC"), ()),
          ("powervc-detach-ghost-volumes", "GhostVolumeParams", "Detach volumes attached to no instance.",
           ApprovalRule(when={"mode": ("apply",)}, reason="detaches volumes in PowerVC"), ()),
          ("powervc-reset-health-db", "ResetHealthDbParams", "Reset PowerVC's health database.",
           ApprovalRule(when={"mode": ("apply",)}, reason="resets PowerVC's health database"), ()),
      )),
    # --- Docker swarm (lock: the swarm inventory)
    Procedure("bootstrap-swarm", "flows.bootstrap_swarm:bootstrap_swarm", "flows.bootstrap_swarm:BootstrapSwarmParams",
              "Create or converge a Docker swarm (managers, workers, overlay network).",
              locks=(SWARM,), plan_overrides=DRY, tags=("swarm",)),
    Procedure("deploy-swarm-service", "flows.deploy_swarm_service:deploy_swarm_service",
              "flows.deploy_swarm_service:DeploySwarmServiceParams",
              "Deploy or update a swarm service from the private registry.", locks=(SWARM,), tags=("swarm",)),
    Procedure("prove-swarm-service", "flows.prove_swarm_service:prove_swarm_service",
              "flows.prove_swarm_service:ProveSwarmServiceParams",
              "Prove a swarm service's spread under load; optionally the node-loss drill.",
              locks=(SWARM,), on_lock_busy="fail",
              approval=ApprovalRule(when={"drill": (True,)}, reason="node-loss drill: a swarm worker is taken "
                                    "down"),
              tags=("swarm",)),
    # --- operations
    Procedure("selftest", "flows.ops_selftest:ops_selftest", "flows.ops_selftest:SelftestParams",
              "Self-test of locks, approvals, redaction and callbacks on this installation (changes nothing).",
              locks=(LockTarget("selftest", ("target",)),
                     LockTarget("endpoint", ("target_block",), blocks=(("target_block", SSH),))),
              approval=ApprovalRule(when={"disruptive": (True,)}, reason="self-test marked disruptive"),
              tags=("ops",)),
    Procedure("fleet-reachability", "flows.ops_fleet:fleet_reachability", "flows.ops_fleet:FleetParams",
              "Fan-out probe of many endpoints (threads or a Dask cluster); changes nothing.",
              tags=("ops", "read-only")),
    Procedure("housekeeping", "flows.ops_housekeeping:ops_housekeeping",
              "flows.ops_housekeeping:HousekeepingParams",
              "Run history report (last day, per deployment) and release of stale lock-holder records.",
              schedules=(Schedule("15 * * * *", active=True, why="hourly; needs no parameters, changes only "
                                  "powerops' own lock records"),),
              tags=("ops", "maintenance")),
)


def _discover(root: Path) -> list[tuple[str, str, str]]:
    """(flow name, "module:function", "module:ModelName") of every ``@flow(name=...)`` in flows/*.py."""
    found = []
    for path in sorted((root / "flows").glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError:
            continue
        mod = f"flows.{path.stem}"
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name.startswith("_"):
                continue
            for dec in node.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == "flow"):
                    continue
                name = next((k.value.value for k in dec.keywords if k.arg == "name"
                             and isinstance(k.value, ast.Constant)), node.name.replace("_", "-"))
                args = node.args.args
                if len(args) != 1 or not isinstance(args[0].annotation, ast.Name):
                    continue
                found.append((str(name), f"{mod}:{node.name}", f"{mod}:{args[0].annotation.id}"))
    return found


@cache
def procedures() -> dict[str, Procedure]:
    """Explicit entries plus every discovered flow without one, by deployment name.

    An explicit entry counts only while its flow function exists (flows are renamed while areas evolve); its
    model is the one the function is annotated with now."""
    found = _discover(REPO)
    model_of = {ref: model for _, ref, model in found}
    out = {p.name: replace(p, model=model_of[p.flow]) for p in PROCEDURES if p.flow in model_of}
    known_flows = set(out[n].flow for n in out)
    for name, ref, model in found:
        if ref in known_flows or name in out:
            continue
        out[name] = Procedure(name, ref, model, f"{name} (no operations entry yet: no lock, no approval)",
                              discovered=True)
    return out


def get(name: str) -> Procedure:
    try:
        return procedures()[name]
    except KeyError:
        raise KeyError(f"unknown procedure {name!r}; known: {', '.join(sorted(procedures()))}") from None
