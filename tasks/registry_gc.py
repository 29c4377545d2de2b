"""Tasks of registry garbage collection: read tags over the registry API, images in use, delete manifests,
disk usage, stop/start the registry, run ``registry garbage-collect`` in a one-off container."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from core import registry as reg
from core import registry_gc as gc
from core.errors import RegistryError
from seams.docker import call
from seams.http import http_client
from tasks.registry import probe_registry

CONFIG_IN_CONTAINER = "/etc/docker/registry/config.yml"
DATA_IN_CONTAINER = "/var/lib/registry"


def _client(registry: RegistryTarget) -> httpx.Client:
    return http_client(registry.ca_cert or None, timeout=30,
                       auth=(registry.username, registry.password.get_secret_value()))


def _check(r: httpx.Response, registry: RegistryTarget, what: str) -> None:
    if r.status_code == 401:
        raise RegistryError(f"{registry.address}: login refused for {registry.username!r} ({what}: HTTP 401)")
    if r.status_code >= 400:
        raise RegistryError(f"{registry.address}: {what} answered HTTP {r.status_code}: {r.text[:200]}")


def _paged(c: httpx.Client, registry: RegistryTarget, url: str, key: str) -> list[str]:
    """Follow the registry's ``Link: <...>; rel="next"`` pagination."""
    out: list[str] = []
    base = f"https://{registry.address}"
    next_url: str | None = url
    while next_url:
        r = c.get(next_url if next_url.startswith("http") else base + next_url)
        _check(r, registry, key)
        out += list(r.json().get(key) or [])
        link = r.headers.get("link", "")
        next_url = link.split(";")[0].strip().strip("<>") if 'rel="next"' in link else None
    return out


def _created(c: httpx.Client, registry: RegistryTarget, repo: str, config_digest: str) -> dt.datetime | None:
    r = c.get(f"https://{registry.address}/v2/{repo}/blobs/{config_digest}", follow_redirects=True)
    if r.status_code != 200:
        return None
    return gc.parse_created(r.json().get("created"))


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, task_run_name="read tags of {registry.address}")
def read_registry_tags(registry: RegistryTarget, repositories: list[str] | None = None) -> list[gc.TagInfo]:
    """Every tag of every repository (or of ``repositories``): digest (HEAD with every manifest type accepted),
    image creation time (config blob) and blob sizes (for the estimate)."""
    out: list[gc.TagInfo] = []
    headers = {"Accept": gc.MANIFEST_ACCEPT}
    try:
        with _client(registry) as c:
            repos = repositories or _paged(c, registry, f"https://{registry.address}/v2/_catalog?n=1000",
                                           "repositories")
            for repo in repos:
                gc.validate_repository(repo)
                tags = _paged(c, registry, f"https://{registry.address}/v2/{repo}/tags/list?n=1000", "tags")
                for t in tags:
                    r = c.get(f"https://{registry.address}/v2/{repo}/manifests/{t}", headers=headers)
                    _check(r, registry, f"manifest {repo}:{t}")
                    digest = gc.validate_digest(r.headers.get("docker-content-digest", ""))
                    doc = r.json()
                    media = r.headers.get("content-type", doc.get("mediaType", ""))
                    created, blobs = None, []
                    if media not in gc.INDEX_TYPES:
                        cfg = doc.get("config") or {}
                        if cfg.get("digest"):
                            blobs.append((str(cfg["digest"]), int(cfg.get("size", 0))))
                            created = _created(c, registry, repo, str(cfg["digest"]))
                        blobs += [(str(layer["digest"]), int(layer.get("size", 0)))
                                  for layer in doc.get("layers") or []]
                    out.append(gc.TagInfo(repo, t, digest, created, tuple(blobs), len(r.content)))
    except httpx.HTTPError as exc:
        raise RegistryError(f"{registry.address}: reading tags failed: {exc}") from exc
    return out


@task(cache_policy=NO_CACHE, retries=1, task_run_name="images in use on {host.name}")
def read_images_in_use(host: DockerHost) -> list[str]:
    """Image references of the host's running containers and, on a swarm manager, of every service."""
    import docker.errors

    images: list[str] = []
    with host.client() as client:
        for c in call(host.name, "list containers", lambda: client.containers.list()):
            images.append(str(c.attrs.get("Config", {}).get("Image", "")))
        try:
            services = client.services.list()
        except docker.errors.APIError:
            services = []   # not a swarm manager
        for s in services:
            images.append(str(s.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image", "")))
    return [i for i in images if i]


@task(cache_policy=NO_CACHE, task_run_name="delete {repository}@{digest}")
def delete_manifest(registry: RegistryTarget, repository: str, digest: str) -> bool:
    """``DELETE /v2/<name>/manifests/<digest>``: True if deleted, False if it was already gone."""
    gc.validate_repository(repository)
    gc.validate_digest(digest)
    try:
        with _client(registry) as c:
            r = c.delete(f"https://{registry.address}/v2/{repository}/manifests/{digest}")
    except httpx.HTTPError as exc:
        raise RegistryError(f"{registry.address}: delete {repository}@{digest} failed: {exc}") from exc
    if r.status_code == 404:
        return False
    if r.status_code == 405:
        raise RegistryError(f"{registry.address}: deletes are disabled (storage.delete.enabled: false)")
    _check(r, registry, f"delete {repository}@{digest}")
    return True


@task(cache_policy=NO_CACHE, retries=1, task_run_name="registry disk usage on {host.name}")
def registry_disk_usage(host: DockerHost, data_dir: str) -> int:
    res = host.ssh.connect().run(["du", "-sb", data_dir])
    return gc.parse_du_bytes(res.stdout)


@task(cache_policy=NO_CACHE, task_run_name="stop registry on {host.name}")
def stop_registry(host: DockerHost) -> str:
    """Stop the registry container (no push can race the sweep). Returns its image id (for the GC run)."""
    with host.client() as client:
        c = call(host.name, f"inspect {reg.CONTAINER}", lambda: client.containers.get(reg.CONTAINER))
        call(host.name, f"stop {reg.CONTAINER}", lambda: c.stop(timeout=20))
        return str(c.image.id)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2, task_run_name="start registry on {host.name}")
def start_registry(host: DockerHost, address: str, ca_pem: str, timeout: float = 60.0) -> str:
    """Start the registry container again (a fresh process: its in-memory blob cache forgets deleted blobs)
    and wait until it answers on /v2/."""
    with host.client() as client:
        c = call(host.name, f"inspect {reg.CONTAINER}", lambda: client.containers.get(reg.CONTAINER))
        call(host.name, f"start {reg.CONTAINER}", c.start)
    deadline = time.monotonic() + timeout
    detail = ""
    while time.monotonic() < deadline:
        ok, detail = probe_registry(address, ca_pem)
        if ok:
            return detail
        time.sleep(0.5)
    raise RegistryError(f"{address}: registry did not answer after restart ({detail})")


@task(cache_policy=NO_CACHE, task_run_name="garbage-collect on {host.name} (dry run: {dry_run})")
def run_garbage_collect(host: DockerHost, image_id: str, dry_run: bool, delete_untagged: bool) -> dict[str, Any]:
    """``registry garbage-collect`` in a one-off container of the registry's own image with the registry
    container's volumes (its config and storage). Returns stdout, stderr and the parsed report."""
    argv = gc.gc_argv(CONFIG_IN_CONTAINER, dry_run, delete_untagged)
    with host.client() as client:
        container = call(host.name, "create garbage-collect container", lambda: client.containers.create(
            image_id, entrypoint=argv[:1], command=argv[1:], volumes_from=[reg.CONTAINER],
            labels={"org.powerops.managed-by": "registry-gc"}))
        try:
            container.start()
            status = container.wait(timeout=1800)
            out = container.logs(stdout=True, stderr=False).decode(errors="replace")
            err = container.logs(stdout=False, stderr=True).decode(errors="replace")
        finally:
            container.remove(force=True)
    code = int(status.get("StatusCode", 1))
    if code != 0:
        if "Path not found" in err and "/docker/registry/v2/repositories" in err:
            report = gc.GcReport(0, 0, 0, ())      # nothing was ever pushed
        else:
            raise RegistryError(f"{host.name}: garbage-collect exited {code}: {err.strip()[-400:]}")
    else:
        report = gc.parse_gc_output(out)
    return {"stdout": out, "stderr": err, "report": report, "exit": code}


@task(cache_policy=NO_CACHE, retries=1, task_run_name="registry image on {host.name}")
def read_registry_image(host: DockerHost) -> str:
    """Image id of the registry container (its own binary runs the garbage-collect)."""
    with host.client() as client:
        c = call(host.name, f"inspect {reg.CONTAINER}", lambda: client.containers.get(reg.CONTAINER))
        return str(c.image.id)
