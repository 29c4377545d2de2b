"""Flow stand-up-registry: the private registry (distribution, TLS, htpasswd/bcrypt) trusted on every host.

Seed: registry binary in an image FROM the base image, config.yml, htpasswd, TLS certificate, --restart=always,
volumes for /certs and /var/lib/registry, the CA in /etc/docker/certs.d/HOST:5000/ca.crt on every Docker host,
docker login, push, pull, catalog.

Facts -> plan -> apply: a healthy registry is left alone (and the flow says so); a changed configuration
recreates the container; a certificate within 30 days of expiry is rotated; a failed swap puts the previous
container back.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.system import Secret
from prefect.futures import wait
from pydantic import BaseModel, Field, SecretStr

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from core import registry as reg
from core.errors import PowerOpsError
from tasks.registry import (
    ensure_registry_image,
    install_registry_ca,
    login_registry,
    probe_registry,
    prune_registry_releases,
    pull_image,
    push_image,
    read_registry_facts,
    registry_catalog,
    replace_registry_container,
    write_registry_material,
)


class RegistryParams(BaseModel):
    """Where the registry runs, how clients reach it, who may log in, and which hosts must trust it."""

    registry_host: str = Field(description="Docker host block name of the host that runs the registry.")
    port: int = Field(default=5000, ge=1, le=65535, description="Registry port.")
    address: str | None = Field(default=None, description="host:port clients use; default <host address>:<port>.")
    extra_names: list[str] = Field(default_factory=list, description="More DNS names/IPs for the certificate.")
    user: str = Field(default="powerops", description="Registry user written to htpasswd.")
    password_secret: str = Field(description="Name of the Prefect Secret block holding the registry password.")
    base_image: str = Field(description="Base image (on the registry host) the registry image is built FROM.")
    binary_paths: list[str] = Field(default_factory=lambda: ["/usr/bin/docker-registry", "/usr/bin/registry"],
                                    description="Where the registry binary may be on the registry host.")
    trust_hosts: list[str] = Field(default_factory=list, description="Docker host block names that must trust "
                                   "and use the registry (the registry host is always included).")
    proof_image: str | None = Field(default=None, description="Image pushed from the registry host and pulled "
                                    "everywhere as proof; default the base image.")
    save_block_as: str | None = Field(default=None, description="Save the resulting registry block under "
                                      "this name (address, CA, credentials) for other flows.")
    dry_run: bool = Field(default=False, description="Publish the plan and change nothing.")


def _plan_markdown(address: str, plan: reg.RegistryPlan) -> str:
    lines = [f"## Registry plan for `{address}`", ""]
    if plan.changes:
        lines += ["| action | reason |", "|---|---|", *[f"| {a} | {r} |" for a, r in plan.actions]]
    else:
        lines.append("**Nothing to change**: the registry is healthy and matches the desired state.")
    lines += ["", "| unchanged | why |", "|---|---|", *[f"| {k} | {w} |" for k, w in plan.keep]]
    return "\n".join(lines)


@flow(name="stand-up-registry", log_prints=False)
def stand_up_registry(params: RegistryParams) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    host = DockerHost.load(params.registry_host)
    password = Secret.load(params.password_secret).get()
    address = params.address or f"{host.address}:{params.port}"
    names = [host.address, *params.extra_names]
    spec = reg.RegistrySpec(address=address, names=tuple(names), user=params.user)
    trust_names = [params.registry_host] + [h for h in params.trust_hosts if h != params.registry_host]
    hosts = [host] + [DockerHost.load(n) for n in trust_names[1:]]

    image_id = ensure_registry_image(host, spec, params.base_image, params.binary_paths)
    facts = read_registry_facts(host, spec, image_id)
    plan = reg.plan_registry(spec, facts, password, image_id)
    release = plan.material.release(image_id)
    create_markdown_artifact(key="registry-plan", markdown=_plan_markdown(address, plan),
                             description=f"stand-up-registry plan for {address}")
    if params.dry_run:
        logger.info("dry run: %d change(s) planned, none applied", len(plan.actions))
        return {"address": address, "planned": plan.actions, "applied": [], "dry_run": True}

    changed: list[str] = []
    if plan.changes:
        changed = write_registry_material(host, spec, plan.material, release)
        if plan.recreate_container:
            replace_registry_container(host, spec, image_id, release, plan.material.ca.cert_pem)
            prune_registry_releases(host, spec, release)
        logger.info("registry %s: applied %s", address, "; ".join(a for a, _ in plan.actions))
    else:
        ok, detail = probe_registry(address, plan.material.ca.cert_pem)
        if not ok:
            logger.warning("registry %s runs but is not healthy (%s): recreating it", address, detail)
            replace_registry_container(host, spec, image_id, release, plan.material.ca.cert_pem)
            plan.actions.append(("recreate container", f"running but unhealthy: {detail}"))
        else:
            logger.info("registry %s is healthy and unchanged: nothing to do", address)

    registry = RegistryTarget(address=address, ca_cert=plan.material.ca.cert_pem, username=params.user,
                              password=SecretStr(password))
    if params.save_block_as:
        registry.save(params.save_block_as, overwrite=True)

    # trust on every host, in parallel
    trust_futures = [install_registry_ca.submit(h, address, plan.material.ca.cert_pem) for h in hosts]
    wait(trust_futures)
    rows: dict[str, dict[str, str]] = {h.name: {"host": h.name} for h in hosts}
    for h, f in zip(hosts, trust_futures, strict=True):
        try:
            rows[h.name]["trust"] = "installed" if f.result() else "already trusted"
        except PowerOpsError as exc:
            rows[h.name]["trust"] = f"FAILED: {exc}"

    # proof: login everywhere, push from the registry host, pull on every other host, catalog over TLS
    login_futures = [login_registry.submit(h, registry) for h in hosts]
    wait(login_futures)
    for h, f in zip(hosts, login_futures, strict=True):
        try:
            rows[h.name]["login"] = str(f.result())
        except PowerOpsError as exc:
            rows[h.name]["login"] = f"FAILED: {exc}"
    proof = params.proof_image or params.base_image
    pushed = push_image(host, proof, registry)
    rows[host.name]["pull"] = f"pushed {pushed}"
    pull_futures = [pull_image.submit(h, pushed, registry) for h in hosts[1:]]
    wait(pull_futures)
    for h, f in zip(hosts[1:], pull_futures, strict=True):
        try:
            rows[h.name]["pull"] = f"pulled {str(f.result())[:19]}"
        except PowerOpsError as exc:
            rows[h.name]["pull"] = f"FAILED: {exc}"
    catalog = registry_catalog(registry)
    create_table_artifact(key="registry-proof", table=list(rows.values()),
                          description=f"registry {address}: trust / login / pull per host; catalog {catalog}")
    failures = [f"{r['host']}: {k} {v}" for r in rows.values() for k, v in r.items() if str(v).startswith("FAILED")]
    seconds = round(time.monotonic() - t0, 1)
    summary = {"address": address, "planned": plan.actions, "applied": [a for a, _ in plan.actions],
               "files_changed": changed, "release": release, "catalog": catalog, "hosts": list(rows.values()),
               "pushed": pushed, "seconds": seconds, "dry_run": False}
    create_markdown_artifact(
        key="registry-summary",
        markdown=f"## Registry `{address}`\n\n"
                 f"* changed: {', '.join(a for a, _ in plan.actions) or 'nothing (healthy, unchanged)'}\n"
                 f"* verified on {len(hosts)} hosts: trust, login, pull; catalog: {', '.join(catalog)}\n"
                 f"* {seconds} s",
        description="stand-up-registry summary")
    if failures:
        raise PowerOpsError("registry proof failed: " + "; ".join(failures))
    return summary
