"""Flow novalink-post-install: what follows the network install of a NovaLink partition, over SSH.

Per partition (the installed NovaLink, root login allowed): the signing keys and apt sources of the ``pvm``
and ``rsct`` repositories cloned on the install server (the mirrors issue), ``apt-get update``, then
``apt-get install pvm-novalink rsct.core rsct.basic`` only for what is missing or older than the mirror's
candidate (facts -> plan -> apply), NTP and DNS settings, and the check of NovaLink's hourly/daily
``pvm-backup`` entries in root's crontab. A second run changes nothing. ``dry_run`` publishes the plan
(files that would change, packages that would be installed, from the sources already in place) and changes
nothing. With ``powervc`` set, the host is then registered in PowerVC (``POST /os-hosts``, PowerVC's compute
host registration), unless PowerVC already lists it.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.system import Secret
from pydantic import BaseModel, Field

from blocks.powervc import PowerVC
from blocks.ssh import SshTarget
from core.errors import InvalidInput, PowerOpsError
from core.novalink import postinstall
from core.novalink.errors import VerificationFailed
from core.novalink.model import NovaLinkPartition, serial_from_name
from core.novalink.postinstall import DEFAULT_PACKAGES
from core.novalink.powervc import find_registered, registration_body
from tasks.novalink import (
    check_backup_crontab,
    fetch_repo_key,
    install_packages,
    read_package_policy,
    read_powervc_hypervisors,
    read_remote_file,
    register_novalink_host,
    wait_powervc_hypervisor,
    write_apt_sources,
    write_repo_key,
    write_time_and_dns,
)


class PostInstallParams(BaseModel):
    """After the install: apt sources of the install server's mirror, packages, NTP/DNS, backup check."""

    novalink_ssh: dict[str, str] = Field(default_factory=dict, description="Partition name -> SSH target block "
                                         "name of the installed NovaLink (root login allowed).")
    mirror_url: str = Field(default="", description="Base URL of the pvm/rsct mirror (the mirrors issue), e.g. "
                            "http://nimserver/export/nim/lpp_source/powervc/novalink.")
    pvm_suite: str = Field(default="novalink_1.0.0", description="Suite of the pvm repository.")
    rsct_suite: str = Field(default="xenial", description="Suite of the rsct repository.")
    pvm_key: str = Field(default="novalink-gpg-pub.key", description="Public key of the pvm repository: a file "
                         "at the repository root or a URL; empty: trust the keys the installer put in place.")
    rsct_key: str = Field(default="", description="Public key of the rsct repository (file at its root or URL); "
                          "empty: the key the NovaLink installer installs (rsct-gpg-pub.key) is trusted.")
    packages: list[str] = Field(default_factory=lambda: list(DEFAULT_PACKAGES),
                                description="Packages installed/upgraded from the mirror.")


class PowerVCRegistrationParams(BaseModel):
    """Register the installed NovaLink host in PowerVC (PowerVC then installs its compute agents on it)."""

    powervc: str = Field(description="Name of the PowerVC block (blocks.powervc.PowerVC).")
    user_id: str = Field(default="", description="NovaLink user PowerVC logs in with (default: the user of the "
                         "partition's SSH block).")
    password_secret: str = Field(default="", description="Secret block holding that user's password; empty: "
                                 "the private key of the partition's SSH block is given to PowerVC.")
    host_group: str = Field(default="", description="PowerVC host group (empty: PowerVC's default group).")
    display_name: str = Field(default="", description="Host display name (default: the NovaLink host name).")
    access_ip: str = Field(default="", description="Address PowerVC reaches NovaLink at (default: the "
                           "partition's IP).")
    standby: bool = Field(default=False, description="Register the host in standby (maintenance) mode.")
    wait_s: float = Field(default=0.0, ge=0, description="Seconds to wait for the host to be listed as an up "
                          "hypervisor (PowerVC installs its packages first: ~20 minutes); 0: do not wait.")


class NovaLinkPostInstallParams(BaseModel):
    partitions: list[NovaLinkPartition] = Field(description="The installed NovaLink partitions (NTP, DNS, "
                                                "domain come from here).")
    post_install: PostInstallParams = Field(description="Mirror, keys, packages and SSH blocks.")
    powervc: PowerVCRegistrationParams | None = Field(default=None, description="PowerVC registration of "
                                                      "the host, after the packages (optional).")
    dry_run: bool = Field(default=False, description="Publish the plan, change nothing.")


def _would_change(target: SshTarget, files: dict[str, str]) -> list[str]:
    return [path for path, text in files.items() if read_remote_file(target, path) != text.encode()]


def _serial(p: NovaLinkPartition) -> str:
    try:
        return p.system_serial or serial_from_name(p.partition_name)
    except InvalidInput:
        return ""


def _register(reg: PowerVCRegistrationParams, target: SshTarget, p: NovaLinkPartition, dry_run: bool) -> str:
    """Idempotent: a host PowerVC already lists (same address or same managed system) is left alone."""
    cloud = PowerVC.load(reg.powervc)
    access_ip = reg.access_ip or p.ip
    serial = _serial(p)
    found = find_registered(read_powervc_hypervisors(cloud), access_ip, serial)
    if found is not None:
        return f"already registered as {found.name} ({found.state})"
    name = reg.display_name or p.hostname or p.partition_name
    if dry_run:
        return f"would register {name} ({access_ip})"
    password = Secret.load(reg.password_secret).get() if reg.password_secret else ""
    body = registration_body(access_ip, reg.user_id or target.username, name, password=password,
                             private_key="" if password else target.private_key.get_secret_value(),
                             host_group=reg.host_group, standby=reg.standby)
    answer = register_novalink_host(cloud, name, body)
    if reg.wait_s:
        up = wait_powervc_hypervisor(cloud, access_ip, serial, reg.wait_s)
        return f"registered as {up.name} (up)"
    return f"registered {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(answer.items()))


def _one(pp: PostInstallParams, p: NovaLinkPartition, dry_run: bool,
         reg: PowerVCRegistrationParams | None = None) -> dict[str, object]:
    log = get_run_logger()
    target = SshTarget.load(pp.novalink_ssh[p.partition_name])
    changed: list[str] = []
    files = postinstall.time_dns_files(p)
    sources = postinstall.apt_sources(pp.mirror_url, pp.pvm_suite, pp.rsct_suite) if pp.mirror_url else {}
    keys = postinstall.repo_key_urls(pp.mirror_url, pp.pvm_key, pp.rsct_key) if pp.mirror_url else {}
    if dry_run:
        changed = _would_change(target, {**sources, **files})
        policy = read_package_policy(target, pp.packages, refresh=False) if pp.packages and pp.mirror_url else {}
        try:
            planned = postinstall.packages_to_install(policy, pp.packages) if policy else []
        except PowerOpsError as exc:
            planned = [f"({exc})"]
        return {"changed": changed, "installed": planned, "missing_backup_entries": check_backup_crontab(target),
                "powervc": _register(reg, target, p, True) if reg else "not requested", "dry_run": True}
    for repo, url in keys.items():
        if write_repo_key(target, repo, fetch_repo_key(url)):
            changed.append(postinstall.repo_key_path(repo))
    if sources:
        changed += write_apt_sources(target, pp.mirror_url, pp.pvm_suite, pp.rsct_suite)
    installed: list[str] = []
    if pp.packages and pp.mirror_url:
        todo = postinstall.packages_to_install(read_package_policy(target, pp.packages), pp.packages)
        if todo:
            log.info("%s: installing %s", p.partition_name, " ".join(todo))
            install_packages(target, todo)
            after = read_package_policy(target, pp.packages, refresh=False)
            left = postinstall.packages_to_install(after, pp.packages)
            if left:
                raise VerificationFailed(f"{p.partition_name}: still not at the mirror's version after "
                                         f"apt-get install: {', '.join(left)}")
            installed = todo
    changed += write_time_and_dns(target, p)
    missing = check_backup_crontab(target)
    registered = _register(reg, target, p, False) if reg and not missing else "not requested"
    return {"changed": changed, "installed": installed, "missing_backup_entries": missing,
            "powervc": registered, "dry_run": False}


@flow(name="novalink-post-install")
def novalink_post_install(params: NovaLinkPostInstallParams) -> dict[str, dict[str, object]]:
    pp = params.post_install
    out: dict[str, dict[str, object]] = {}
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    for p in params.partitions:
        if not pp.novalink_ssh.get(p.partition_name):
            rows.append({"partition": p.partition_name, "changed": "", "packages installed": "",
                         "pvm-backup crontab": "", "PowerVC": "", "note": "no SSH block given: skipped"})
            continue
        res = _one(pp, p, params.dry_run, params.powervc)
        out[p.partition_name] = res
        missing = res["missing_backup_entries"]
        assert isinstance(missing, list)
        if missing and not params.dry_run:
            problems.append(f"{p.partition_name}: pvm-backup crontab entries missing: " + "; ".join(missing))
        rows.append({"partition": p.partition_name,
                     "changed": ", ".join(res["changed"]) or "nothing",  # type: ignore[arg-type]
                     "packages installed": ", ".join(res["installed"]) or "none",  # type: ignore[arg-type]
                     "pvm-backup crontab": "complete" if not missing else "MISSING " + "; ".join(missing),
                     "PowerVC": str(res["powervc"]),
                     "note": "dry run: would change" if params.dry_run else ""})
    create_table_artifact(key="novalink-post-install", table=rows,
                          description="NovaLink post-install" + (" (dry run)" if params.dry_run else ""))
    if problems:
        create_markdown_artifact(key="novalink-post-install-problems",
                                 markdown="# NovaLink post-install problems\n\n" + "\n".join(f"- {x}" for x in problems))
        raise VerificationFailed("\n".join(problems))
    return out


__all__ = ["NovaLinkPostInstallParams", "PostInstallParams", "PowerVCRegistrationParams", "novalink_post_install"]
