"""Tasks of the private registry: facts, material, image, container swap, trust, login/push/pull, catalog."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from core import registry as reg
from core.errors import DockerError, RegistryError
from core.names import parse_image_ref
from core.render import render
from seams.docker import call
from seams.http import http_client


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode()


@task(cache_policy=NO_CACHE, retries=1, task_run_name="read registry facts on {host.name}")
def read_registry_facts(host: DockerHost, spec: reg.RegistrySpec, image_id: str | None) -> reg.RegistryFacts:
    import docker.errors

    conn = host.ssh.connect()
    r = spec.root
    running, exists, release = False, False, None
    with host.client() as client:
        try:
            c = client.containers.get(reg.CONTAINER)
            exists, running = True, c.status == "running"
            release = c.labels.get(reg.LABEL_RELEASE)
        except docker.errors.NotFound:
            pass
    return reg.RegistryFacts(
        ca_cert=_text(conn.read_file(f"{r}/ca/ca.crt")), ca_key=_text(conn.read_file(f"{r}/ca/ca.key")),
        server_cert=_text(conn.read_file(f"{r}/certs/server.crt")),
        server_key=_text(conn.read_file(f"{r}/certs/server.key")),
        htpasswd=_text(conn.read_file(f"{r}/auth/htpasswd")), image_id=image_id,
        container_running=running, container_exists=exists, container_release=release,
    )


@task(cache_policy=NO_CACHE, task_run_name="write registry files on {host.name}")
def write_registry_material(host: DockerHost, spec: reg.RegistrySpec, material: reg.Material,
                            release: str) -> list[str]:
    """CA, canonical copies and the release directory the container mounts. Returns the files changed."""
    conn = host.ssh.connect()
    r, rel = spec.root, reg.release_dir(spec, release)
    files = [
        (f"{r}/ca/ca.crt", material.ca.cert_pem, 0o644), (f"{r}/ca/ca.key", material.ca.key_pem, 0o600),
        (f"{r}/certs/server.crt", material.server.cert_pem, 0o644),
        (f"{r}/certs/server.key", material.server.key_pem, 0o600),
        (f"{r}/auth/htpasswd", material.htpasswd, 0o600),
        (f"{rel}/certs/server.crt", material.server.cert_pem, 0o644),
        (f"{rel}/certs/server.key", material.server.key_pem, 0o600),
        (f"{rel}/auth/htpasswd", material.htpasswd, 0o644),
        (f"{rel}/config.yml", material.config, 0o644),
    ]
    conn.run(["mkdir", "-p", f"{r}/ca", f"{r}/certs", f"{r}/auth", f"{rel}/certs", f"{rel}/auth", spec.data_dir])
    conn.run(["chmod", "0700", f"{r}/ca"])
    return [path for path, text, mode in files if conn.write_file(path, text.encode(), mode)]


@task(cache_policy=NO_CACHE, task_run_name="ensure registry image on {host.name}")
def ensure_registry_image(host: DockerHost, spec: reg.RegistrySpec, base_image: str,
                          binary_paths: list[str]) -> str:
    """The registry image FROM our base image with the host's own ``registry`` binary (right architecture).
    Rebuilt only when the base image or the binary changed."""
    logger = get_run_logger()
    conn = host.ssh.connect()
    binary = next((p for p in binary_paths if conn.run(["test", "-x", p], check=False).ok), None)
    if binary is None:
        raise RegistryError(f"{host.name}: no registry binary at {', '.join(binary_paths)} "
                            "(install Debian's docker-registry or RHEL's docker-distribution)")
    binary_sha = conn.run(["sha256sum", binary]).stdout.split()[0]
    with host.client() as client:
        import docker.errors

        try:
            base_id = str(client.images.get(base_image).id)
        except docker.errors.ImageNotFound:
            raise RegistryError(f"{host.name}: base image {base_image} is not there; run build-base-image first") from None
        try:
            current = client.images.get(spec.image)
            labels = current.labels or {}
            if labels.get("org.powerops.base-id") == base_id and labels.get("org.powerops.binary-sha256") == binary_sha:
                logger.info("registry image %s is current (base %s, binary %s)", spec.image, base_id[:19], binary_sha[:12])
                return str(current.id)
        except docker.errors.ImageNotFound:
            pass
    # Build on the host itself, as the seed does: the 20 MB binary never crosses the network.
    dockerfile = render("images/registry.Dockerfile.j2", base_image=base_image, port=spec.port)
    ctx = conn.run(["mktemp", "-d", "/tmp/powerops-registry-build.XXXXXX"]).stdout.strip()
    try:
        conn.run(["cp", binary, f"{ctx}/registry"])
        conn.write_file(f"{ctx}/Dockerfile", dockerfile.encode())
        conn.run(["docker", "build", "-q", "-t", spec.image, "--label", f"org.powerops.base-id={base_id}",
                  "--label", f"org.powerops.binary-sha256={binary_sha}", ctx], timeout=900)
    finally:
        conn.run(["rm", "-rf", ctx], check=False)
    with host.client() as client:
        return str(call(host.name, f"inspect {spec.image}", lambda: client.images.get(spec.image)).id)


def probe_registry(address: str, ca_pem: str) -> tuple[bool, str]:
    try:
        with http_client(ca_pem, timeout=3) as c:
            r = c.get(f"https://{address}/v2/")
        # the registry demands authentication: 401 means TLS and the service are right
        return r.status_code == 401, f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"


@task(cache_policy=NO_CACHE, task_run_name="replace registry container on {host.name}")
def replace_registry_container(host: DockerHost, spec: reg.RegistrySpec, image_id: str, release: str,
                               ca_pem: str, health_timeout: float = 30.0) -> str:
    """Swap in a container of the new release; if it does not come up healthy, put the previous one back."""
    import docker.errors

    logger = get_run_logger()
    rel = reg.release_dir(spec, release)
    with host.client() as client:
        for stale in (reg.PREVIOUS,):
            with contextlib.suppress(docker.errors.NotFound):
                client.containers.get(stale).remove(force=True)
        previous = None
        try:
            previous = client.containers.get(reg.CONTAINER)
            call(host.name, "rename previous registry", lambda: previous.rename(reg.PREVIOUS))
            call(host.name, "stop previous registry", lambda: previous.stop(timeout=10))
        except docker.errors.NotFound:
            pass

        def rollback(cause: str) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                client.containers.get(reg.CONTAINER).remove(force=True)
            if previous is not None:
                previous.rename(reg.CONTAINER)
                previous.start()
                logger.warning("registry on %s: new release failed, previous container restored", host.name)
            raise RegistryError(f"{host.name}: new registry container failed ({cause}); "
                                + ("the previous registry was restored and keeps running" if previous
                                   else "no previous registry existed"))

        try:
            container = client.containers.run(
                image_id, name=reg.CONTAINER, detach=True, restart_policy={"Name": "always"},
                ports={f"{spec.port}/tcp": spec.port},
                volumes={
                    f"{rel}/config.yml": {"bind": "/etc/docker/registry/config.yml", "mode": "ro"},
                    f"{rel}/certs": {"bind": "/certs", "mode": "ro"},
                    f"{rel}/auth": {"bind": "/auth", "mode": "ro"},
                    spec.data_dir: {"bind": "/var/lib/registry", "mode": "rw"},
                },
                labels={reg.LABEL_RELEASE: release, "org.powerops.managed-by": "stand-up-registry"},
            )
        except docker.errors.APIError as exc:
            cause = str(exc.explanation or exc)
            if "address already in use" in cause or "port is already allocated" in cause:
                cause = f"port {spec.port} on {host.name} is already taken by another process"
            rollback(cause)
            raise AssertionError("unreachable") from exc
        deadline = time.monotonic() + health_timeout
        detail = ""
        while time.monotonic() < deadline:
            ok, detail = probe_registry(spec.address, ca_pem)
            if ok:
                break
            container.reload()
            if container.status not in ("running", "created", "restarting"):
                break
            time.sleep(0.3)
        else:
            ok = False
        if not ok:
            logs = container.logs(tail=10).decode(errors="replace").strip().splitlines()[-3:]
            rollback(f"not healthy at https://{spec.address}/v2/ ({detail}); logs: {' | '.join(logs)}")
        if previous is not None:
            previous.remove(force=True)
        return str(container.id)


@task(cache_policy=NO_CACHE, task_run_name="prune old registry releases on {host.name}")
def prune_registry_releases(host: DockerHost, spec: reg.RegistrySpec, keep_release: str) -> list[str]:
    conn = host.ssh.connect()
    listing = conn.run(["find", f"{spec.root}/releases", "-mindepth", "1", "-maxdepth", "1", "-type", "d"],
                       check=False).stdout.split()
    removed = [d for d in listing if not d.endswith("/" + keep_release)]
    if removed:
        conn.run(["rm", "-rf", *removed])
    return removed


@task(cache_policy=NO_CACHE, task_run_name="trust registry CA on {host.name}")
def install_registry_ca(host: DockerHost, address: str, ca_pem: str) -> bool:
    """CA into ``certs.d/HOST:PORT/ca.crt`` of the engine (no restart needed). True if it changed."""
    return host.ssh.connect().write_file(reg.certs_d_path(host.certs_dir, address), ca_pem.encode(), 0o644)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, task_run_name="login to registry from {host.name}")
def login_registry(host: DockerHost, registry: RegistryTarget) -> str:
    """The engine itself authenticates against the registry (so its CA trust is exercised too)."""
    with host.client() as client:
        res = call(host.name, f"login to {registry.address}", lambda: client.login(
            username=registry.username, password=registry.password.get_secret_value(),
            registry=registry.address, reauth=True))
    return str(res.get("Status", "Login Succeeded"))


def _check_stream(host: str, what: str, stream: Any) -> str:
    digest = ""
    for item in stream:
        if isinstance(item, dict):
            if item.get("error"):
                raise DockerError(host, f"{what} failed: {item['error']}")
            aux = item.get("aux") or {}
            digest = aux.get("Digest", digest)
    return digest


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2, task_run_name="push {tag} from {host.name}")
def push_image(host: DockerHost, tag: str, registry: RegistryTarget) -> str:
    """Tag ``tag`` into the registry and push it; returns ``ref@digest``."""
    repo, t = parse_image_ref(tag)
    ref_repo = f"{registry.address}/{repo.split('/', 1)[1] if repo.startswith(registry.address) else repo}"
    auth = {"username": registry.username, "password": registry.password.get_secret_value()}
    with host.client() as client:
        image = call(host.name, f"inspect {tag}", lambda: client.images.get(tag))
        call(host.name, f"tag {tag}", lambda: image.tag(ref_repo, t))
        stream = call(host.name, f"push {ref_repo}:{t}", lambda: client.api.push(
            ref_repo, tag=t, auth_config=auth, stream=True, decode=True))
        digest = _check_stream(host.name, f"push {ref_repo}:{t}", stream)
    return f"{ref_repo}:{t}@{digest}" if digest else f"{ref_repo}:{t}"


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2, task_run_name="pull {ref} on {host.name}")
def pull_image(host: DockerHost, ref: str, registry: RegistryTarget) -> str:
    repo, t = parse_image_ref(ref.split("@", 1)[0])
    auth = {"username": registry.username, "password": registry.password.get_secret_value()}
    with host.client() as client:
        stream = call(host.name, f"pull {repo}:{t}", lambda: client.api.pull(
            repo, tag=t, auth_config=auth, stream=True, decode=True))
        _check_stream(host.name, f"pull {repo}:{t}", stream)
        return str(call(host.name, f"inspect {repo}:{t}", lambda: client.images.get(f"{repo}:{t}")).id)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, task_run_name="registry catalog")
def registry_catalog(registry: RegistryTarget) -> list[str]:
    """``GET /v2/_catalog`` verifying TLS with the registry's CA (never unverified)."""
    auth = (registry.username, registry.password.get_secret_value())
    try:
        with http_client(registry.ca_cert or None) as c:
            r = c.get(f"https://{registry.address}/v2/_catalog", auth=auth)
    except httpx.HTTPError as exc:
        raise RegistryError(f"{registry.address}: catalog request failed: {exc}") from exc
    if r.status_code == 401:
        raise RegistryError(f"{registry.address}: login refused for user {registry.username!r} (HTTP 401)")
    if r.status_code != 200:
        raise RegistryError(f"{registry.address}: catalog answered HTTP {r.status_code}")
    return list(r.json().get("repositories", []))
