"""The network-boot lab: a NovaLink install server and an emulated POWER partition that really netboots.

* ``nlinst`` (namespace ``pwl-nlinst``, 10.250.77.70): sshd, dnsmasq (DHCP/BOOTP + TFTP, ``--dhcp-hostsdir``
  so entries written by the flow are read without a restart), nginx (Range-capable HTTP, combined access log).
  Its HTTP/TFTP root is ``<state>/netboot/srv``; the flows write there over SSH like on any install server.
* ``nlpart`` (namespace ``pwl-nlpart``): a bridge joining the lab veth and a tap for QEMU. The emulated
  partition is ``qemu-system-ppc64 -M pseries`` with SLOF and a ``spapr-vlan`` NIC (PowerVM's virtual
  Ethernet), booting from the network. Its serial console goes to ``<state>/netboot/console/<lpar>.log``.
* The install media is a NovaLink-ISO-shaped tree built from Debian's ppc64el d-i netboot kernel/initrd
  (same installer family) and the patched GRUB ``core.elf`` (see ``cache.py``), with the ISO's ``ubuntu -> .``
  symlink and a ``pvm/repo/pvmrepo.tgz``.
* The simulated HMC's ``lpar_netboot`` starts the partition: ``<state>/hmc/netboot/<lpar>.json`` holds the
  QEMU argv and pidfile (contract with lab/hmc_sim).
* ``nlhost`` (10.250.77.81) and the pvm/rsct mirror: the post-install lab (``novalink_host.py``): a chrooted
  Debian userland reached over SSH where apt-get really installs the signed stand-in packages.
* ``nlboot`` (10.250.77.71): Debian's ``bootp`` (CMU bootpd) reading the bootptab the flow writes through the
  second install-server block (``bootpd.py``), proven by a real BOOTP exchange.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from lab import netns
from lab.context import LabContext
from lab.netboot import bootpd, cache, novalink_host
from lab.sshd import ensure_sshd, pid_alive, stop_sshd

INST_NODE = "nlinst"
PART_NODE = "nlpart"
INST_IP = f"{netns.PREFIX}.70"
PART_NS_IP = f"{netns.PREFIX}.79"
LPAR_NAME = "nova0696010"
LPAR_IP = f"{netns.PREFIX}.80"
LPAR_MAC = "52:54:00:4e:4c:80"
LPAR_ID = 20
MEDIA_NAME = "novalink-lab"
QEMU_MEMORY_MB = 1024
BLOCK_SSH = "lab-netboot-instsrv-ssh"
BLOCK_SERVER = "lab-netboot-install-server"
DNSMASQ_HOSTS = "dnsmasq-hosts"


@dataclass(frozen=True)
class Dirs:
    root: Path

    @property
    def srv(self) -> Path:
        return self.root / "srv"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def console(self) -> Path:
        return self.root / "console"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def media_src(self) -> Path:
        return self.root / "media-src" / MEDIA_NAME

    @property
    def media_iso(self) -> Path:
        return self.root / "media-src" / f"{MEDIA_NAME}.iso"

    @property
    def hosts(self) -> Path:
        return self.root / DNSMASQ_HOSTS


def dirs(lab: LabContext) -> Dirs:
    d = Dirs(lab.state_dir / "netboot")
    for p in (d.srv, d.logs, d.console, d.run, d.hosts):
        p.mkdir(parents=True, exist_ok=True)
    return d


def _pid(pidfile: Path) -> int | None:
    return pid_alive(pidfile)


def _stop(pidfile: Path, sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
    pid = _pid(pidfile)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        end = time.monotonic() + wait
        while time.monotonic() < end and _pid(pidfile):
            time.sleep(0.1)
        if _pid(pidfile):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


# -- install media -----------------------------------------------------------------------------------------


def ensure_media(lab: LabContext) -> Path:
    """A NovaLink-ISO-shaped directory tree with the d-i stand-ins (built once, from the cache)."""
    d = dirs(lab)
    src = d.media_src
    core_elf = cache.ensure_core_elf(lab.state_dir)
    kernel, initrd = cache.di_files()
    marker = src / ".powerops-media"
    ident = f"{core_elf.name} {kernel.stat().st_size} {initrd.stat().st_size}\n"
    if marker.exists() and marker.read_text() == ident and d.media_iso.exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    (src / "install").mkdir(parents=True)
    (src / "boot/grub/powerpc-ieee1275").mkdir(parents=True)
    (src / "pvm/repo").mkdir(parents=True)
    (src / ".disk").mkdir()
    shutil.copy2(kernel, src / "install/vmlinux")
    shutil.copy2(initrd, src / "install/netboot_initrd.gz")
    shutil.copy2(core_elf, src / "boot/grub/powerpc-ieee1275/core.elf")
    (src / "install/filesystem.squashfs").write_bytes(b"lab stand-in: the d-i netboot initrd needs no squashfs\n")
    (src / ".disk/info").write_text("PowerVM NovaLink lab media (Debian 12 d-i ppc64el stand-in)\n")
    (src / "README.diskdefines").write_text("#define DISKNAME  PowerVM NovaLink lab media\n")
    os.symlink(".", src / "ubuntu")  # as on the real ISO: a plain cp -r would recurse forever
    (src / "pvm/repo/pvmrepo.tgz").write_bytes(_fake_pvmrepo())
    marker.write_text(ident)
    # the same tree as an ISO image (Rock Ridge keeps the symlink), like the NovaLink ESD image
    tmp = d.media_iso.with_suffix(".tmp")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "NOVALINK_LAB", "-o", str(tmp),
                    str(src)], check=True, capture_output=True)
    tmp.rename(d.media_iso)
    return src


def _fake_pvmrepo() -> bytes:
    """A pvmrepo.tgz shaped like IBM's (conf/distributions, dists/, pool/, the GPG key)."""
    buf = io.BytesIO()
    files = {
        "./conf/distributions": "Origin: IBM\nLabel: PowerVM NovaLink\nCodename: novalink_1.0.0\n"
                                "Architectures: ppc64el\nComponents: non-free\n",
        "./distributions": "Codename: novalink_1.0.0\n",
        "./dists/novalink_1.0.0/Release": "Codename: novalink_1.0.0\nComponents: non-free\n",
        "./dists/novalink_1.0.0/non-free/binary-ppc64el/Packages": "",
        "./novalink-gpg-pub.key": "lab stand-in key\n",
        "./pool/non-free/p/pvm-core/README": "lab stand-in: no IBM packages here\n",
    }
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- install server ----------------------------------------------------------------------------------------


def _nginx_conf(d: Dirs) -> str:
    return f"""
user root;
worker_processes 1;
pid {d.run / 'nginx.pid'};
error_log {d.logs / 'nginx-error.log'};
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    log_format combined_t '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                          '"$http_referer" "$http_user_agent"';
    access_log {d.logs / 'access.log'} combined_t;
    client_body_temp_path {d.run / 'nginx-body'};
    proxy_temp_path {d.run / 'nginx-proxy'};
    fastcgi_temp_path {d.run / 'nginx-fastcgi'};
    uwsgi_temp_path {d.run / 'nginx-uwsgi'};
    scgi_temp_path {d.run / 'nginx-scgi'};
    server {{
        listen {INST_IP}:80;
        root {d.srv};
        autoindex on;
    }}
}}
"""


def _dnsmasq_argv(d: Dirs) -> list[str]:
    return [
        "dnsmasq", "--port=0", "--interface=eth0", "--bind-interfaces", "--no-resolv", "--no-hosts",
        f"--dhcp-range={netns.PREFIX}.0,static,255.255.255.0",
        f"--dhcp-hostsdir={d.hosts}",
        f"--dhcp-boot=boot/grub/powerpc-ieee1275/core.elf,,{INST_IP}",
        f"--dhcp-option=option:router,{netns.GATEWAY}",
        "--dhcp-authoritative", "--enable-tftp", f"--tftp-root={d.srv}", "--log-dhcp",
        f"--log-facility={d.logs / 'dnsmasq.log'}", f"--pid-file={d.run / 'dnsmasq.pid'}",
        f"--dhcp-leasefile={d.run / 'dnsmasq.leases'}", "--user=root",
    ]


def _ensure_instsrv(lab: LabContext) -> None:
    d = dirs(lab)
    netns.ensure_node(INST_NODE, INST_IP, {INST_NODE: INST_IP, LPAR_NAME: LPAR_IP})
    ensure_sshd(lab, INST_NODE, INST_IP)
    if not _pid(d.run / "dnsmasq.pid"):
        subprocess.run(netns.exec_argv(INST_NODE, _dnsmasq_argv(d)), check=True)
    if not _pid(d.run / "nginx.pid"):
        conf = d.run / "nginx.conf"
        conf.write_text(_nginx_conf(d))
        subprocess.run(netns.exec_argv(INST_NODE, ["nginx", "-c", str(conf)]), check=True)
    for _ in range(50):
        if _pid(d.run / "dnsmasq.pid") and _pid(d.run / "nginx.pid"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"netboot lab: dnsmasq/nginx did not start; see {d.logs}")


# -- emulated partition ------------------------------------------------------------------------------------


def _ensure_partition_net() -> None:
    netns.ensure_node(PART_NODE, PART_NS_IP, {})
    ns = netns.ns_name(PART_NODE)
    if netns.sh(["ip", "-n", ns, "link", "show", "br0"], check=False).returncode != 0:
        netns.sh(["ip", "-n", ns, "addr", "flush", "dev", "eth0"])
        netns.sh(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"])
        netns.sh(["ip", "-n", ns, "link", "set", "eth0", "master", "br0"])
        netns.sh(["ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap"])
        netns.sh(["ip", "-n", ns, "link", "set", "tap0", "master", "br0", "up"])
        netns.sh(["ip", "-n", ns, "link", "set", "br0", "up"])


def qemu_pidfile(lab: LabContext, lpar: str = LPAR_NAME) -> Path:
    return dirs(lab).run / f"qemu-{lpar}.pid"


def console_log(lab: LabContext, lpar: str = LPAR_NAME) -> Path:
    return dirs(lab).console / f"{lpar}.log"


def qemu_argv(lab: LabContext, lpar: str = LPAR_NAME, mac: str = LPAR_MAC) -> list[str]:
    """The emulated partition: pseries machine, SLOF, PAPR virtual Ethernet, network boot."""
    return netns.exec_argv(PART_NODE, [
        "qemu-system-ppc64", "-M", "pseries", "-m", str(QEMU_MEMORY_MB), "-smp", "1",
        "-display", "none", "-vga", "none", "-monitor", "none", "-name", lpar,
        "-chardev", f"file,id=con0,path={console_log(lab, lpar)},append=on", "-serial", "chardev:con0",
        "-boot", "order=n", "-pidfile", str(qemu_pidfile(lab, lpar)),
        "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
        "-device", f"spapr-vlan,netdev=n0,mac={mac}",
    ])


def hmc_netboot_file(lab: LabContext, lpar: str = LPAR_NAME) -> Path:
    return lab.state_dir / "hmc" / "netboot" / f"{lpar}.json"


def write_hmc_netboot(lab: LabContext, lpar: str = LPAR_NAME, mac: str = LPAR_MAC) -> Path:
    """The simulated HMC's lpar_netboot starts this argv for ``lpar`` (contract with lab/hmc_sim)."""
    path = hmc_netboot_file(lab, lpar)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"argv": qemu_argv(lab, lpar, mac), "pidfile": str(qemu_pidfile(lab, lpar))},
                               indent=1) + "\n")
    return path


def start_partition(lab: LabContext, lpar: str = LPAR_NAME, mac: str = LPAR_MAC) -> int:
    """Start (or restart) the emulated partition directly, as lpar_netboot on the simulated HMC does."""
    stop_partition(lab, lpar)
    pidfile = qemu_pidfile(lab, lpar)
    proc = subprocess.Popen(qemu_argv(lab, lpar, mac), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(dirs(lab).logs / f"qemu-{lpar}.err", "wb"),  # noqa: SIM115
                            start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_partition(lab: LabContext, lpar: str = LPAR_NAME) -> None:
    _stop(qemu_pidfile(lab, lpar), wait=3.0)


def managed_system() -> str:
    from lab import hmc_sim

    return hmc_sim.SYSTEM


def _add_to_hmc(lab: LabContext) -> None:
    """The NovaLink partition exists on the simulated HMC's managed system, with the emulated NIC's MAC."""
    from lab import hmc_sim

    hmc_sim.add_partition(lab, hmc_sim.SYSTEM, LPAR_NAME, LPAR_ID, mac=LPAR_MAC.replace(":", "").upper(),
                          env="aixlinux", profile="default_profile")


def hmc_block_name() -> str:
    from lab import hmc_sim

    return hmc_sim.hmc_block_name()


# -- component interface -----------------------------------------------------------------------------------


def up(lab: LabContext) -> None:
    """Install server + partition network + media + the HMC netboot hook (idempotent; no qemu started)."""
    d = dirs(lab)
    ensure_media(lab)
    _ensure_instsrv(lab)
    _ensure_partition_net()
    write_hmc_netboot(lab)
    _add_to_hmc(lab)
    novalink_host.up(lab)
    bootpd.up(lab)
    (d.root / "README").write_text(__doc__ or "")


def down(lab: LabContext) -> None:
    d = Dirs(lab.state_dir / "netboot")
    stop_partition(lab)
    novalink_host.down(lab)
    bootpd.down(lab)
    for name in ("nginx.pid", "dnsmasq.pid"):
        _stop(d.run / name)
    stop_sshd(lab, INST_NODE)
    netns.remove_node(PART_NODE)
    netns.remove_node(INST_NODE)
    hmc_netboot_file(lab).unlink(missing_ok=True)
    with contextlib.suppress(Exception):
        from lab import hmc_sim

        hmc_sim.remove_partition(lab, hmc_sim.SYSTEM, LPAR_NAME)
    # keep the build cache (the 4-minute GRUB build); remove everything else the lab made
    for sub in ("srv", "logs", "console", "run", DNSMASQ_HOSTS, "media-src"):
        shutil.rmtree(d.root / sub, ignore_errors=True)
    (d.root / "README").unlink(missing_ok=True)


def status(lab: LabContext) -> list[str]:
    d = Dirs(lab.state_dir / "netboot")

    def line(name: str, pidfile: Path) -> str:
        pid = pid_alive(pidfile)
        return f"netboot {name}: " + (f"running (pid {pid})" if pid else "stopped")

    return [
        f"netboot namespace pwl-{INST_NODE} ({INST_IP}): " + ("present" if netns.ns_exists(INST_NODE) else "absent"),
        line("sshd", lab.node_dir(INST_NODE) / "sshd.pid"),
        line("dnsmasq (DHCP/BOOTP+TFTP)", d.run / "dnsmasq.pid"),
        line("nginx (HTTP, Range)", d.run / "nginx.pid"),
        line(f"partition {LPAR_NAME} (qemu-system-ppc64 pseries)", d.run / f"qemu-{LPAR_NAME}.pid"),
        "netboot GRUB cache: " + ("built" if any((lab.state_dir / "netboot/cache").glob("core-*.elf"))
                                  else "not built (~4 min on first up)"),
        *novalink_host.status(lab),
        *bootpd.status(lab),
    ]


def install_server_block(lab: LabContext):  # type: ignore[no-untyped-def]
    from blocks.novalink import NovaLinkInstallServer

    d = dirs(lab)
    return NovaLinkInstallServer(
        ssh=lab.ssh_target(INST_NODE, INST_IP),
        server_ip=INST_IP,
        http_root=str(d.srv),
        base_dir=str(d.srv / "export"),
        tftp_root=str(d.srv),
        boot_service="dnsmasq",
        dnsmasq_hosts_dir=str(d.hosts),
        reload_command=["pkill", "-HUP", "-F", str(d.run / "dnsmasq.pid")],
        boot_log=str(d.logs / "dnsmasq.log"),
        http_access_log=str(d.logs / "access.log"),
        console_log_pattern=str(d.console / "{partition}.log"),
    )


def register_blocks(lab: LabContext) -> list[str]:
    block = install_server_block(lab)
    block.ssh.save(BLOCK_SSH, overwrite=True)
    block.save(BLOCK_SERVER, overwrite=True)
    return [BLOCK_SSH, BLOCK_SERVER, *novalink_host.register_blocks(lab), *bootpd.register_blocks(lab)]
