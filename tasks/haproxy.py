"""haproxy tasks: validate with the real ``haproxy -c -f`` before installing, install, reload gracefully, read the
stats CSV; the haproxy container of the DNS layout; the request generator of the proof.

Two places haproxy can run:
* a load-balancer host (``HaproxyHost``, over SSH): the distribution's haproxy, config in /etc/haproxy;
* a container on a swarm node attached to the overlay (DNS layout), image FROM the site's base image with
  haproxy's .debs resolved against that image's own dpkg status on the build host.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.docker_host import DockerHost
from blocks.ssh import SshTarget
from blocks.swarm import HaproxyHost
from core.errors import DockerError, InvalidInput
from core.render import render
from core.swarm.drill import Sample
from core.swarm.errors import HaproxyError
from core.swarm.haproxy import ServerStat, parse_stats_csv
from seams.docker import FACT_TIMEOUT_S, call, request_timeout
from seams.http import http_client
from tasks.docker import build_app_image

CONTAINER_CFG_DIR = "/usr/local/etc/haproxy"
IMAGE_LABEL = "org.powerops.haproxy-recipe"


# ---- load-balancer host (SSH) ------------------------------------------------------------------------------------

@task(cache_policy=NO_CACHE, task_run_name="validate haproxy config on {lb.name}")
def validate_haproxy_config(lb: HaproxyHost, text: str) -> bool:
    """Upload as a candidate next to the live file and run ``haproxy -c -f`` on it. True if it differs from
    the installed config. Raises ``HaproxyError`` with haproxy's own message when invalid."""
    conn = lb.ssh.connect()
    candidate = f"{lb.config_path}.candidate"
    conn.write_file(candidate, text.encode(), 0o644)
    res = conn.run([lb.haproxy_binary, "-c", "-f", candidate], check=False)
    if not res.ok:
        raise HaproxyError(f"{lb.name}: haproxy -c refused the new config (nothing installed): "
                           f"{(res.stderr or res.stdout).strip()[-800:]}")
    return conn.read_file(lb.config_path) != text.encode()


@task(cache_policy=NO_CACHE, task_run_name="install haproxy config on {lb.name}")
def install_haproxy_config(lb: HaproxyHost, text: str) -> bool:
    conn = lb.ssh.connect()
    changed = conn.write_file(lb.config_path, text.encode(), 0o644)
    conn.remove_file(f"{lb.config_path}.candidate")
    return changed


@task(cache_policy=NO_CACHE, task_run_name="reload haproxy on {lb.name}")
def reload_haproxy(lb: HaproxyHost) -> None:
    lb.ssh.connect().run(list(lb.reload_command), timeout=60)


# ---- haproxy container on a swarm node (DNS layout) ----------------------------------------------------------------

@task(cache_policy=NO_CACHE, task_run_name="read dpkg status of {image} on {host.name}")
def read_image_dpkg_status(host: DockerHost, image: str) -> bytes:
    with host.client() as client:
        out = call(host.name, f"read dpkg status of {image}", lambda: client.containers.run(
            image, ["cat", "/var/lib/dpkg/status"], remove=True, network_disabled=True))
    return bytes(out)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=3, task_run_name="download {packages} for an image")
def download_debs_for_image(build: SshTarget, packages: list[str], dpkg_status: bytes) -> dict[str, bytes]:
    """``apt-get install --download-only`` on the build host against the IMAGE's dpkg status: exactly the
    .debs (dependencies included) the image lacks."""
    for p in packages:
        if not p or not all(c.isalnum() or c in "+-.:" for c in p):
            raise InvalidInput(f"bad package name {p!r}")
    conn = build.connect()
    tmp = conn.run(["mktemp", "-d", "/tmp/powerops-haproxy-debs.XXXXXX"]).stdout.strip()
    try:
        conn.run(["mkdir", "-p", f"{tmp}/archives/partial"])
        conn.write_file(f"{tmp}/status", dpkg_status, 0o644)
        conn.run(["apt-get", "install", "--download-only", "--no-install-recommends", "-y", "-q",
                  "-o", f"Dir::State::status={tmp}/status", "-o", f"Dir::Cache::archives={tmp}/archives",
                  "-o", "Debug::NoLocking=1", *packages], timeout=600)
        names = conn.run(["find", f"{tmp}/archives", "-maxdepth", "1", "-name", "*.deb", "-printf", "%f\n"]
                         ).stdout.split()
        out: dict[str, bytes] = {}
        for n in names:
            data = conn.read_file(f"{tmp}/archives/{n}")
            if data is not None:
                out[n] = data
        return out
    finally:
        conn.run(["rm", "-rf", tmp], check=False)


@task(cache_policy=NO_CACHE, task_run_name="inspect images on {host.name}")
def inspect_images(host: DockerHost, tags: list[str]) -> list[dict[str, Any] | None]:
    """id and labels of each tag (None where the host does not have it), over one client."""
    import docker.errors

    out: list[dict[str, Any] | None] = []
    with host.client() as client, request_timeout(host.name, "inspect images", FACT_TIMEOUT_S):
        for tag in tags:
            try:
                img = client.images.get(tag)
            except docker.errors.ImageNotFound:
                out.append(None)
                continue
            out.append({"id": str(img.id), "labels": (img.attrs.get("Config") or {}).get("Labels") or {}})
    return out


def ensure_haproxy_image(host: DockerHost, build: SshTarget, base_image: str, tag: str,
                         images: list[dict[str, Any] | None] | None = None) -> str:
    """The haproxy image FROM the base image; rebuilt only when the base image or the recipe changed.
    ``images``: ``inspect_images(host, [base_image, tag])`` when the caller already has it."""
    logger = get_run_logger()
    base, existing = images if images is not None else inspect_images(host, [base_image, tag])
    if base is None:
        raise InvalidInput(f"{host.name}: base image {base_image} is not there; run build-base-image first")
    dockerfile = render("haproxy/haproxy.Dockerfile.j2", base_image=base_image, cfg_dir=CONTAINER_CFG_DIR)
    recipe = hashlib.sha256(f"{dockerfile}\0{base['id']}".encode()).hexdigest()[:24]
    if existing and existing["labels"].get(IMAGE_LABEL) == recipe:
        logger.info("haproxy image %s on %s is current (recipe %s)", tag, host.name, recipe)
        return str(existing["id"])
    status = read_image_dpkg_status(host, base_image)
    debs = download_debs_for_image(build, ["haproxy"], status)
    files = {f"debs/{k}": v for k, v in debs.items()}
    return str(build_app_image(host, tag, dockerfile, files, None, {IMAGE_LABEL: recipe}))


def container_config_dir(host: DockerHost, service: str) -> str:
    return f"/etc/powerops/haproxy/{host.name}-{service}"


@task(cache_policy=NO_CACHE, task_run_name="validate haproxy config in {image} on {host.name}")
def validate_haproxy_config_in_image(host: DockerHost, image: str, cfg_dir: str, text: str) -> bool:
    """Candidate next to the live file, checked by the image's own haproxy. True if it differs."""
    import docker.errors

    conn = host.ssh.connect()
    conn.write_file(f"{cfg_dir}/haproxy.cfg.candidate", text.encode(), 0o644)
    with host.client() as client:
        # create/start/wait/remove on the low-level API, haproxy's output read only when it refuses: what
        # ``docker run --rm`` costs, where docker-py's containers.run adds an inspect and a followed log stream
        # (each a new connection through the SSH tunnel: ~0.8 s against ~0.4 s measured on the lab swarm)
        api = client.api
        cid = ""
        try:
            hc = api.create_host_config(network_mode="none",
                                        binds={cfg_dir: {"bind": CONTAINER_CFG_DIR, "mode": "ro"}})
            cid = api.create_container(image, ["haproxy", "-c", "-f", f"{CONTAINER_CFG_DIR}/haproxy.cfg.candidate"],
                                       host_config=hc, labels={"org.powerops.role": "haproxy-check"})["Id"]
            api.start(cid)
            status = int(api.wait(cid)["StatusCode"])
            if status != 0:
                out = api.logs(cid, stdout=True, stderr=True).decode(errors="replace")
                raise HaproxyError(f"{host.name}: haproxy -c refused the new config (nothing installed): "
                                   f"{out.strip()[-800:]}")
        except docker.errors.APIError as exc:
            raise DockerError(host.name, f"haproxy -c in {image} failed: {exc.explanation or exc}") from exc
        finally:
            if cid:
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_container(cid, force=True)
    return conn.read_file(f"{cfg_dir}/haproxy.cfg") != text.encode()


@task(cache_policy=NO_CACHE, task_run_name="install haproxy config in {cfg_dir} on {host.name}")
def install_container_config(host: DockerHost, cfg_dir: str, text: str) -> bool:
    conn = host.ssh.connect()
    changed = conn.write_file(f"{cfg_dir}/haproxy.cfg", text.encode(), 0o644)
    conn.remove_file(f"{cfg_dir}/haproxy.cfg.candidate")
    return changed


@task(cache_policy=NO_CACHE, task_run_name="ensure haproxy container {name} on {host.name}")
def ensure_haproxy_container(host: DockerHost, name: str, image_id: str, network: str, cfg_dir: str,
                             ports: list[int], reload: bool) -> str:
    """Create the container (attached to the overlay, ports published on the host) when missing or different;
    otherwise reload it gracefully (SIGUSR2 to the master) if ``reload``. Returns what was done."""
    import docker.errors

    want = f"{image_id}|{network}|{cfg_dir}|{','.join(map(str, ports))}"
    with host.client() as client:
        try:
            c = client.containers.get(name)
        except docker.errors.NotFound:
            c = None
        if c is not None and c.labels.get("org.powerops.haproxy-spec") == want and c.status == "running":
            if reload:
                call(host.name, f"reload {name}", lambda: c.kill(signal="SIGUSR2"))
                return "reloaded"
            return "unchanged"
        if c is not None:
            call(host.name, f"remove old {name}", lambda: c.remove(force=True))
        call(host.name, f"run {name}", lambda: client.containers.run(
            image_id, ["haproxy", "-W", "-db", "-f", f"{CONTAINER_CFG_DIR}/haproxy.cfg"], name=name, detach=True,
            network=network, ports={f"{p}/tcp": p for p in ports}, restart_policy={"Name": "always"},
            volumes={cfg_dir: {"bind": CONTAINER_CFG_DIR, "mode": "ro"}},
            labels={"org.powerops.haproxy-spec": want, "org.powerops.managed-by": "deploy-swarm-service"}))
    return "created" if c is None else "recreated"


@task(cache_policy=NO_CACHE, task_run_name="remove haproxy container {name} on {host.name}")
def remove_haproxy_container(host: DockerHost, name: str) -> bool:
    import docker.errors

    with host.client() as client:
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            return False
    return True


# ---- stats ---------------------------------------------------------------------------------------------------------

def fetch_stats(stats_url: str, timeout: float = 2.0) -> list[ServerStat]:
    with http_client(timeout=timeout) as c:
        r = c.get(stats_url.rstrip("/") + ";csv")
    if r.status_code != 200:
        raise HaproxyError(f"{stats_url}: stats answered HTTP {r.status_code}")
    return parse_stats_csv(r.text)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, task_run_name="read haproxy stats")
def read_haproxy_stats(stats_url: str) -> list[ServerStat]:
    return fetch_stats(stats_url)


@task(cache_policy=NO_CACHE, task_run_name="wait for haproxy backends UP")
def wait_for_backends_up(stats_url: str, expected: int, timeout: float = 60.0) -> list[ServerStat]:
    """Until ``expected`` servers with an address are UP (and none with an address is DOWN)."""
    deadline = time.monotonic() + timeout
    last: list[ServerStat] = []
    detail = ""
    while time.monotonic() < deadline:
        try:
            last = [s for s in fetch_stats(stats_url) if s.addr and not s.status.startswith("MAINT")]
            up = [s for s in last if s.status == "UP" and s.check_status not in ("", "INI")]
            if len(up) == expected and len(last) == expected:
                return last
            detail = ", ".join(f"{s.name}={s.status}" for s in last) or "no servers"
        except (httpx.HTTPError, HaproxyError) as exc:
            detail = str(exc)
        time.sleep(0.2)
    raise HaproxyError(f"haproxy backends not all UP after {timeout:.0f}s (want {expected} UP): {detail}")


# ---- requests ------------------------------------------------------------------------------------------------------

def check_lab_target(host: str, allow_public: bool = False) -> None:
    """Traffic generation goes to loopback / private addresses only unless explicitly allowed."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise InvalidInput(f"{host}: cannot resolve ({exc})") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not (ip.is_loopback or ip.is_private) and not allow_public:
            raise InvalidInput(f"{host} resolves to {ip}, not a loopback/private address: refusing to send load "
                               "(allow_public_target=True to override)")


def parse_container(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("hostname:"):
            return line.split(":", 1)[1].strip() or None
    return None


def _worker(url: str, count: int, out: list[str | None], timeout: float) -> None:
    with http_client(timeout=timeout) as c:
        for _ in range(count):
            try:
                r = c.get(url)
                out.append(parse_container(r.text) if r.status_code == 200 else None)
            except httpx.HTTPError:
                out.append(None)


@task(cache_policy=NO_CACHE, task_run_name="send {n} requests to {url}")
def send_requests(url: str, n: int, concurrency: int = 8, timeout: float = 5.0) -> tuple[list[str | None], float]:
    """N GETs with bounded concurrency; returns the answering container per request (None = failed) and the
    elapsed seconds."""
    if n < 1 or concurrency < 1 or concurrency > 64:
        raise InvalidInput("n must be >= 1 and concurrency between 1 and 64")
    parts: list[list[str | None]] = [[] for _ in range(concurrency)]
    shares = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as ex:
        for fut in [ex.submit(_worker, url, k, parts[i], timeout) for i, k in enumerate(shares)]:
            fut.result()
    return [a for p in parts for a in p], time.monotonic() - t0


class LoadRunner:
    """Keeps requests flowing in background threads, recording every answer with its time."""

    def __init__(self, url: str, t0: float, concurrency: int = 4, timeout: float = 5.0) -> None:
        self.url, self.t0, self.timeout = url, t0, timeout
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True, name=f"load-{i}")
                         for i in range(concurrency)]

    def _run(self) -> None:
        with http_client(timeout=self.timeout) as c:
            while not self._stop.is_set():
                try:
                    r = c.get(self.url)
                    who = parse_container(r.text) if r.status_code == 200 else None
                    s = Sample(time.monotonic() - self.t0, who is not None, who or f"HTTP {r.status_code}")
                except httpx.HTTPError as exc:
                    s = Sample(time.monotonic() - self.t0, False, type(exc).__name__)
                with self._lock:
                    self.samples.append(s)

    def __enter__(self) -> LoadRunner:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


class StatsWatcher:
    """Polls the stats CSV in the background: (t, servers) samples."""

    def __init__(self, stats_url: str, t0: float, interval: float = 0.2) -> None:
        self.url, self.t0, self.interval = stats_url, t0, interval
        self.samples: list[tuple[float, list[ServerStat]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stats-watcher")

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError, HaproxyError):
                self.samples.append((time.monotonic() - self.t0, fetch_stats(self.url, timeout=1.0)))
            self._stop.wait(self.interval)

    def series(self, cond: Callable[[list[ServerStat]], bool]) -> list[tuple[float, bool]]:
        return [(t, cond(s)) for t, s in self.samples]

    def __enter__(self) -> StatsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
