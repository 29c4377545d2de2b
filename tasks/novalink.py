"""Thin tasks for NovaLink network installs: one side effect each, all remote work through the SSH seam."""

from __future__ import annotations

import hashlib
import posixpath
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from blocks.hmc import HmcConsole
from blocks.novalink import NovaLinkInstallServer
from blocks.powervc import PowerVC
from blocks.ssh import SshTarget
from core.errors import CommandFailed, HostError, HostUnreachable
from core.novalink import hmc as hmc_cmd
from core.novalink import postinstall, tftp
from core.novalink import powervc as pvc_reg
from core.novalink.errors import InstallMilestoneFailed, VerificationFailed
from core.novalink.initrd import patch_initrd_argv
from core.novalink.milestones import LogLine, Milestone, Source, Target, Tracker
from core.novalink.model import InstallMedia, NovaLinkPartition
from core.novalink.plan import (
    STAGED_MARKER,
    choose_password_hash,
    copy_boot_file_commands,
    existing_password_hash,
    extract_repo_commands,
    parse_sha256sum,
    parse_stat,
    stage_media_commands,
)
from core.novalink.render import RenderedFile, paths_for

# -- facts -------------------------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_checksums(server: NovaLinkInstallServer, paths: list[str]) -> dict[str, str]:
    """sha256 of each path that exists on the install server (missing files are absent from the result)."""
    if not paths:
        return {}
    res = server.connect().run(["sha256sum", "--", *paths], check=False)
    return parse_sha256sum(res.stdout)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_media_source(server: NovaLinkInstallServer, source: str) -> tuple[int, int] | None:
    """(size, mtime) of the media source (ISO, tar or directory) on the install server."""
    res = server.connect().run(["stat", "-L", "-c", "%s %Y %n", "--", source], check=False)
    return parse_stat(res.stdout).get(source)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_remote_text(server: NovaLinkInstallServer, path: str) -> str | None:
    data = server.connect().read_file(path)
    return None if data is None else data.decode(errors="replace")


@task(cache_policy=NO_CACHE)
def hash_admin_password(secret_block: str, current_cfg: str | None) -> str:
    """SHA-512 crypt hash of the admin password read from a Secret block (kept if it already matches)."""
    password = Secret.load(secret_block).get()  # type: ignore[union-attr]
    return choose_password_hash(str(password), existing_password_hash(current_cfg))


# -- changes -----------------------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def stage_media(server: NovaLinkInstallServer, source: str, media: InstallMedia, partition: NovaLinkPartition,
                identity: str) -> None:
    """Copy the ISO content (symlinks preserved) and extract the pvm repository; mark it staged."""
    layout = server.layout()
    paths = paths_for(partition, media, layout)
    conn = server.connect()
    for argv in stage_media_commands(source, paths.media_dir):
        conn.run(argv, timeout=3600)
    archive = posixpath.join(paths.media_dir, media.pvm_repo_archive)
    if conn.run(["test", "-f", archive], check=False).ok:
        for argv in extract_repo_commands(archive, paths.repo_dir):
            conn.run(argv, timeout=3600)
    else:
        get_run_logger().warning("media has no %s: no pvm repository extracted", media.pvm_repo_archive)
    conn.write_file(posixpath.join(paths.media_dir, STAGED_MARKER), identity.encode())


@task(cache_policy=NO_CACHE)
def copy_boot_file(server: NovaLinkInstallServer, media: InstallMedia, partition: NovaLinkPartition) -> None:
    paths = paths_for(partition, media, server.layout())
    conn = server.connect()
    for argv in copy_boot_file_commands(posixpath.join(paths.media_dir, media.core_elf), paths.boot_file):
        conn.run(argv)


@task(cache_policy=NO_CACHE, task_run_name="patch NPIV initrd of {partition.partition_name}")
def build_npiv_initrd(server: NovaLinkInstallServer, media: InstallMedia, partition: NovaLinkPartition,
                      identity: str) -> None:
    """The initrd with 'd-i grub-installer/bootdev string <pvmdisk>' in the installer's preseed."""
    paths = paths_for(partition, media, server.layout())
    conn = server.connect()
    conn.run(patch_initrd_argv(paths.media_initrd, paths.initrd, partition.pvmdisk, media.initrd_preseed),
             timeout=1800)
    conn.write_file(paths.initrd + ".source", identity.encode())


@task(cache_policy=NO_CACHE, task_run_name="upload {file.what} to {file.path}")
def upload_file(server: NovaLinkInstallServer, file: RenderedFile) -> bool:
    return server.connect().write_file(file.path, file.content.encode(), file.mode)


@task(cache_policy=NO_CACHE)
def remove_remote_file(server: NovaLinkInstallServer, path: str) -> bool:
    return server.connect().remove_file(path)


@task(cache_policy=NO_CACHE)
def reload_boot_service(server: NovaLinkInstallServer) -> None:
    server.connect().run(list(server.reload_command))


# -- verification from the outside (as the partition would) -------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    url: str
    size: int
    sha256: str
    detail: str


def tftp_get(host: str, filename: str, timeout: float = 5.0, retries: int = 5) -> bytes:
    """Read one file over TFTP (octet mode, 512-byte blocks as SLOF uses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(tftp.rrq(filename), (host, 69))
        data, expected, peer = bytearray(), 1, None
        tries = 0
        while True:
            try:
                pkt, addr = sock.recvfrom(65536)
            except TimeoutError:
                tries += 1
                if tries > retries:
                    raise HostUnreachable(host, f"TFTP {filename}: no answer after {retries} retries") from None
                if peer is None:
                    sock.sendto(tftp.rrq(filename), (host, 69))
                else:
                    sock.sendto(tftp.ack(expected - 1), peer)
                continue
            if peer is None:
                peer = addr
            elif addr != peer:
                continue
            p = tftp.parse(pkt)
            if p.opcode == tftp.ERROR:
                raise VerificationFailed(f"TFTP {host}:{filename}: error {p.error_code} {p.message}")
            if p.opcode != tftp.DATA:
                continue
            if p.block == expected & 0xFFFF:
                data += p.data
                sock.sendto(tftp.ack(p.block), peer)
                expected += 1
                tries = 0
                if len(p.data) < 512:
                    return bytes(data)
            else:
                sock.sendto(tftp.ack(p.block), peer)
    finally:
        sock.close()


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2, task_run_name="TFTP fetch {filename}")
def fetch_tftp(host: str, filename: str, expected_sha256: str) -> Fetched:
    data = tftp_get(host, filename)
    got = hashlib.sha256(data).hexdigest()
    if got != expected_sha256:
        raise VerificationFailed(f"TFTP {host}:{filename}: {len(data)} bytes with sha256 {got[:12]}, "
                                 f"expected {expected_sha256[:12]}")
    return Fetched(f"tftp://{host}/{filename}", len(data), got, "ok")


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2, task_run_name="HTTP fetch {url}")
def fetch_http(url: str, expected_sha256: str, check_range: bool = True) -> Fetched:
    """GET the file (size + checksum), then as GRUB does a ``Range: bytes=N-`` request that must answer 206."""
    h = hashlib.sha256()
    size = 0
    with httpx.Client(timeout=60.0, headers={"User-Agent": "powerops-verify (GRUB-like)"}) as client:
        with client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise VerificationFailed(f"HTTP GET {url}: status {resp.status_code}")
            tail = b""
            offset = 0
            for chunk in resp.iter_bytes():
                h.update(chunk)
                size += len(chunk)
                tail = (tail + chunk)[-4096:]
            offset = max(0, size - 4096)
        got = h.hexdigest()
        if got != expected_sha256:
            raise VerificationFailed(f"HTTP GET {url}: {size} bytes, sha256 {got[:12]} instead of "
                                     f"{expected_sha256[:12]}")
        detail = "ok"
        if check_range and size > 0:
            r = client.get(url, headers={"Range": f"bytes={offset}-"})
            if r.status_code != 206 or r.content != tail[-(size - offset):]:
                raise VerificationFailed(
                    f"HTTP {url} ignores Range requests (status {r.status_code}, {len(r.content)} bytes for "
                    f"bytes={offset}-): GRUB re-reads the kernel with Range and would load it shifted; use a "
                    "Range-capable server (nginx, apache)")
            detail = f"ok, Range bytes={offset}- answered 206"
    return Fetched(url, size, got, detail)


# -- HMC ---------------------------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, task_run_name="lpar_netboot {partition.partition_name}")
def trigger_netboot(hmc: HmcConsole, partition: NovaLinkPartition, server_ip: str) -> str:
    """Ask the HMC to network-boot the partition from the install server (lpar_netboot)."""
    argv = hmc_cmd.lpar_netboot_argv(partition, server_ip)
    res = hmc.connect().run(argv, timeout=900, check=False)
    hmc_cmd.check_lpar_netboot(res.host, res.command, res.exited, res.stdout, res.stderr)
    return res.stdout


# -- following the install ---------------------------------------------------------------------------------


def _sources(server: NovaLinkInstallServer, partition: str) -> dict[Source, str]:
    src: dict[Source, str] = {"boot": server.boot_log, "http": server.http_access_log}
    if server.console_log_pattern:
        src["console"] = server.console_log_pattern.replace("{partition}", partition)
    return src


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_log_offsets(server: NovaLinkInstallServer, partition: str) -> dict[str, int]:
    """Current size of every log followed (lines after these offsets belong to this install)."""
    paths = list(_sources(server, partition).values())
    res = server.connect().run(["stat", "-c", "%s %Y %n", "--", *paths], check=False)
    st = parse_stat(res.stdout)
    return {p: st[p][0] if p in st else 0 for p in paths}


def _read_new(conn, path: str, offset: int) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    res = conn.run(["stat", "-c", "%s %Y %n", "--", path], check=False)
    size = parse_stat(res.stdout).get(path, (0, 0))[0]
    if size < offset:  # truncated or recreated (the console log of a restarted partition)
        offset = 0
    if size == offset:
        return b"", offset
    out = conn.run(["tail", "-c", f"+{offset + 1}", "--", path], check=False, timeout=60)
    data = out.stdout.encode()
    return data, offset + len(data)


def install_target(server: NovaLinkInstallServer, media: InstallMedia, p: NovaLinkPartition,
                   sizes: dict[str, int] | None = None) -> Target:
    layout = server.layout()
    paths = paths_for(p, media, layout)
    configs = [layout.url_path(paths.pvm_install_cfg)]
    if paths.preseed_cfg:
        configs.append(layout.url_path(paths.preseed_cfg))
    return Target(
        mac=p.mac, ip=p.ip, boot_file=layout.boot_file,
        grub_cfg=posixpath.relpath(paths.grub_cfg, layout.tftp_root),
        kernel=layout.url_path(paths.kernel), initrd=layout.url_path(paths.initrd), configs=tuple(configs),
        kernel_size=(sizes or {}).get(paths.kernel, 0), initrd_size=(sizes or {}).get(paths.initrd, 0),
    )


@task(cache_policy=NO_CACHE, task_run_name="follow install of {partition.partition_name}")
def follow_install(server: NovaLinkInstallServer, media: InstallMedia, partition: NovaLinkPartition,
                   offsets: dict[str, int], goal: Milestone = Milestone.CONFIG_FETCHED,
                   deadline_s: float = 900.0, poll_s: float = 3.0) -> list[tuple[str, float | None]]:
    """Follow the logs until ``goal`` is reached; fail fast on a fatal sign, or at the deadline with the last
    milestone and the relevant lines. Returns the timeline (milestone, seconds after the trigger)."""
    log = get_run_logger()
    conn = server.connect()
    paths = paths_for(partition, media, server.layout())
    st = conn.run(["stat", "-L", "-c", "%s %Y %n", "--", paths.kernel, paths.initrd], check=False)
    sizes = {path: size for path, (size, _) in parse_stat(st.stdout).items()}
    tracker = Tracker(install_target(server, media, partition, sizes))
    sources = _sources(server, partition.partition_name)
    offs = dict(offsets)
    partial: dict[str, bytes] = {p: b"" for p in sources.values()}
    # Console lines are fed one round late: the partition's console reports the consequence (a GRUB error) of
    # what the servers log (an HTTP 404) within the same second, and the logs are read one after the other, so
    # a round can see the console line but not yet the server's. The server's line is the cause to report.
    pending_console: list[LogLine] = []
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        fresh_console: list[LogLine] = []
        before = set(tracker.reached)
        for source, path in sources.items():
            try:
                data, offs[path] = _read_new(conn, path, offs.get(path, 0))
            except (CommandFailed, HostError) as exc:
                log.warning("cannot read %s: %s", path, exc)
                continue
            buf = partial[path] + data
            *complete, partial[path] = buf.split(b"\n")
            for raw in complete:
                line = LogLine(source, raw.decode(errors="replace").replace("\r", ""), round(now, 1))
                if source == "console":
                    fresh_console.append(line)
                else:
                    tracker.feed(line)
        tracker.feed_all(pending_console)
        pending_console = fresh_console
        for m in tracker.reached.keys() - before:
            log.info("milestone '%s' at +%.0fs", m.value, tracker.reached[m])
        if pending_console and not tracker.fatal and not tracker.has(goal) and now <= deadline_s:
            time.sleep(min(poll_s, 1.0))  # console news: look again soon
            continue
        if tracker.fatal:
            raise InstallMilestoneFailed(tracker.failure_message(goal), tracker.last, tracker.timeline())
        if tracker.has(goal):
            return [(m.value, t) for m, t in tracker.timeline()]
        if now > deadline_s:
            tracker.feed_all(pending_console)
            raise InstallMilestoneFailed(tracker.failure_message(goal, waited=now), tracker.last,
                                         tracker.timeline())
        time.sleep(poll_s)


# -- post-install ------------------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def write_apt_sources(target: SshTarget, mirror_url: str, pvm_suite: str, rsct_suite: str) -> list[str]:
    conn = target.connect()
    changed = []
    for path, text in postinstall.apt_sources(mirror_url, pvm_suite, rsct_suite).items():
        if conn.write_file(path, text.encode(), 0o644):
            changed.append(path)
    return changed


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, task_run_name="fetch apt key {url}")
def fetch_repo_key(url: str) -> bytes:
    """The repository's public key from the mirror (armored), returned as a binary keyring."""
    try:
        resp = httpx.get(url, timeout=30.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise HostUnreachable(url, f"cannot fetch the repository key: {exc}") from exc
    if resp.status_code != 200:
        raise VerificationFailed(f"repository key {url}: HTTP {resp.status_code}")
    return postinstall.dearmor(resp.text)


@task(cache_policy=NO_CACHE, task_run_name="install {repo} repository key on {target.host}")
def write_repo_key(target: SshTarget, repo: str, keyring: bytes) -> bool:
    return target.connect().write_file(postinstall.repo_key_path(repo), keyring, 0o644)


_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5, task_run_name="read package state on {target.host}")
def read_package_policy(target: SshTarget, packages: list[str], refresh: bool = True
                        ) -> dict[str, tuple[str | None, str | None]]:
    """``apt-get update`` (refreshes the index from the mirror; fails on an unsigned or unreachable
    repository), then installed and candidate versions of ``packages``."""
    conn = target.connect()
    wanted = postinstall.validate_packages(packages)
    if refresh:
        conn.run(["apt-get", "update", "-q", "-o", "APT::Update::Error-Mode=any"], env=_APT_ENV, timeout=1800)
    res = conn.run(["apt-cache", "policy", *wanted], env=_APT_ENV, timeout=300)
    return postinstall.parse_apt_policy(res.stdout)


@task(cache_policy=NO_CACHE, task_run_name="apt-get install on {target.host}")
def install_packages(target: SshTarget, packages: list[str]) -> str:
    res = target.connect().run(["apt-get", "install", "-y", "-q", *postinstall.validate_packages(packages)],
                               env=_APT_ENV, timeout=3600)
    return res.stdout[-2000:]


@task(cache_policy=NO_CACHE)
def write_time_and_dns(target: SshTarget, partition: NovaLinkPartition) -> list[str]:
    conn = target.connect()
    changed = []
    for path, text in postinstall.time_dns_files(partition).items():
        if conn.write_file(path, text.encode(), 0o644):
            changed.append(path)
    return changed


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def check_backup_crontab(target: SshTarget) -> list[str]:
    """The hourly/daily pvm-backup entries NovaLink installs; returns what is missing (empty = all there)."""
    res = target.connect().run(["crontab", "-l"], check=False)
    return postinstall.missing_backup_entries(res.stdout if res.ok else "")


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, task_run_name="read {path} on {target.host}")
def read_remote_file(target: SshTarget, path: str) -> bytes | None:
    return target.connect().read_file(path)


# -- PowerVC registration ------------------------------------------------------------------------------------


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3, task_run_name="read PowerVC hypervisors")
def read_powervc_hypervisors(cloud: PowerVC) -> list[pvc_reg.Hypervisor]:
    from seams.openstack import request
    from tasks.powervc import admin_conn

    body = request(admin_conn(cloud), "compute", "GET", "/os-hypervisors/detail", "list hypervisors",
                   microversion=pvc_reg.HYPERVISORS_MICROVERSION)
    return pvc_reg.parse_hypervisors(body)


@task(cache_policy=NO_CACHE, task_run_name="register {display_name} in PowerVC")
def register_novalink_host(cloud: PowerVC, display_name: str, body: dict[str, Any]) -> dict[str, str]:
    """POST /os-hosts (PowerVC's compute host registration). The body carries a credential: never logged."""
    from core.powervc.errors import ApiNotFound
    from seams.openstack import request
    from tasks.powervc import admin_conn

    get_run_logger().info("registering %s: %s", display_name, pvc_reg.redacted(body)["host"]["registration"])
    try:
        answer = request(admin_conn(cloud), "compute", "POST", "/os-hosts", f"register NovaLink host {display_name}",
                         json=body, ok=(200, 201, 202))
    except ApiNotFound as exc:
        raise ApiNotFound(exc.host, exc.what, exc.status,
                          "this cloud has no PowerVC host-registration API (POST /os-hosts answered 404): "
                          "is it PowerVC?") from None
    return pvc_reg.parse_registration_answer(answer or {"host": {}})


@task(cache_policy=NO_CACHE, task_run_name="wait for {serial} in PowerVC")
def wait_powervc_hypervisor(cloud: PowerVC, access_ip: str, serial: str, deadline_s: float,
                            poll_s: float = 15.0) -> pvc_reg.Hypervisor:
    """Poll until PowerVC lists the new host (its nova-compute runs on NovaLink) with state up."""
    end = time.monotonic() + deadline_s
    last: pvc_reg.Hypervisor | None = None
    while True:
        last = pvc_reg.find_registered(read_powervc_hypervisors.fn(cloud), access_ip, serial)
        if last is not None and last.state == "up":
            return last
        if time.monotonic() >= end:
            raise VerificationFailed(f"PowerVC does not list NovaLink {access_ip} (serial {serial}) as an up "
                                     f"hypervisor after {deadline_s:.0f} s; last seen: {last}")
        time.sleep(poll_s)
