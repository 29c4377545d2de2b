"""Lab component ``lab.mirror``: a mirror host, a client host with a Debian chroot, and a loopback upstream.

* ``mirror``  10.250.77.100: OpenSSH (flows write mirrors over SSH) + nginx serving /<mirror>/ from
  <srv>/<mirror>/current/ (the atomic-publish layout).
* ``mclient`` 10.250.77.101: OpenSSH + a debootstrap'ed Debian chroot: the real apt-get/pip client.
* upstream: nginx on 127.0.0.1:18473 serving test repositories built by ``lab.mirror.upstream``; the same
  tree over https on 127.0.0.1:18474 with a certificate from the lab's private CA (``lab.mirror.tls``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from core.mirror.web import render_nginx_site
from lab import netns
from lab.context import LabContext
from lab.mirror import web
from lab.mirror.tls import ensure_ca
from lab.mirror.upstream import build_apt_upstream, ensure_key

MIRROR_NODE, MIRROR_IP = "mirror", f"{netns.PREFIX}.100"
CLIENT_NODE, CLIENT_IP = "mclient", f"{netns.PREFIX}.101"
UPSTREAM_LISTEN = "127.0.0.1:18473"
UPSTREAM_URL = f"http://{UPSTREAM_LISTEN}"
UPSTREAM_TLS_LISTEN = "127.0.0.1:18474"
UPSTREAM_TLS_URL = f"https://{UPSTREAM_TLS_LISTEN}"
HOSTS = {MIRROR_NODE: MIRROR_IP, CLIENT_NODE: CLIENT_IP}
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def lab_path(path: str) -> Path:
    """A path on a lab host (the lab's namespaces share the machine's filesystem)."""
    return Path(path)


def area_dir(lab: LabContext) -> Path:
    d = lab.state_dir / "mirror"
    d.mkdir(parents=True, exist_ok=True)
    return d


def srv_dir(lab: LabContext) -> Path:
    """The mirror host's mirror root (what its nginx serves)."""
    d = lab.node_dir(MIRROR_NODE) / "srv"
    d.mkdir(parents=True, exist_ok=True)
    return d


def upstream_dir(lab: LabContext) -> Path:
    d = area_dir(lab) / "upstream"
    d.mkdir(parents=True, exist_ok=True)
    return d


def key_dir(lab: LabContext) -> Path:
    return area_dir(lab) / "upstream-key"


def tls_dir(lab: LabContext) -> Path:
    return area_dir(lab) / "tls"


def client_root(lab: LabContext) -> Path:
    return lab.node_dir(CLIENT_NODE) / "root"


def ensure_client_root(lab: LabContext) -> Path:
    """A minimal Debian chroot for the client proofs (debootstrap once, ~25 s; kept in the state dir)."""
    root = client_root(lab)
    if (root / "usr" / "bin" / "apt-get").exists():
        return root
    tmp = root.with_name("root.building")
    shutil.rmtree(tmp, ignore_errors=True)
    res = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp), DEBIAN_MIRROR], capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"debootstrap of the mirror client chroot failed: {res.stderr.decode()[-2000:]}")
    # the client must use only the mirrors powerops configures
    (tmp / "etc" / "apt" / "sources.list").write_text("")
    for p in (tmp / "etc" / "apt" / "sources.list.d").glob("*"):
        p.unlink()
    shutil.rmtree(tmp / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (tmp / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def up(lab: LabContext) -> None:
    from lab.sshd import ensure_sshd

    for node, ip in HOSTS.items():
        netns.ensure_node(node, ip, HOSTS)
        ensure_sshd(lab, node, ip)
    run = lab.node_run_dir(MIRROR_NODE) / "nginx"
    sites = run / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    site = sites / "powerops-mirrors.conf"
    if not site.exists():  # the serve-mirrors flow owns it afterwards, as on a real mirror host
        site.write_text(render_nginx_site(str(srv_dir(lab)), f"{MIRROR_IP}:80"))
    web.serve(srv_dir(lab), f"{MIRROR_IP}:80", run, published=True, node=MIRROR_NODE, sites_dir=sites)
    ca = ensure_ca(tls_dir(lab))
    web.serve(upstream_dir(lab), UPSTREAM_LISTEN, area_dir(lab) / "upstream-nginx", published=False,
              check_url=f"{UPSTREAM_URL}/", slow_rate="2m", tls_listen=UPSTREAM_TLS_LISTEN,
              tls_cert=ca.server_cert, tls_key=ca.server_key)
    if not (upstream_dir(lab) / "apt" / "dists").exists():
        build_apt_upstream(upstream_dir(lab) / "apt", key_dir(lab), packages=8)
    ensure_client_root(lab)


def down(lab: LabContext) -> None:
    from lab.sshd import stop_sshd

    web.stop(lab.node_run_dir(MIRROR_NODE) / "nginx")
    web.stop(area_dir(lab) / "upstream-nginx")
    web.stop(area_dir(lab) / "bench-nginx")  # left by an interrupted benchmark
    subprocess.run(["gpgconf", "--homedir", str(key_dir(lab)), "--kill", "all"], capture_output=True)
    for node in HOSTS:
        stop_sshd(lab, node)
        netns.remove_node(node)
    shutil.rmtree(area_dir(lab), ignore_errors=True)
    for node in HOSTS:
        shutil.rmtree(lab.state_dir / "nodes" / node, ignore_errors=True)
        shutil.rmtree(lab.run_dir / node, ignore_errors=True)


def status(lab: LabContext) -> list[str]:
    from lab.sshd import pid_alive

    lines = []
    for node, ip in HOSTS.items():
        ns = "up" if netns.ns_exists(node) else "absent"
        sshd = pid_alive(lab.state_dir / "nodes" / node / "sshd.pid")
        lines.append(f"mirror: host {node} {ip}: namespace {ns}, sshd {'running pid ' + str(sshd) if sshd else 'stopped'}")
    pid = web.running(lab.run_dir / MIRROR_NODE / "nginx")
    lines.append(f"mirror: nginx on {MIRROR_IP}:80 {'running pid ' + str(pid) if pid else 'stopped'}")
    pid = web.running(lab.state_dir / "mirror" / "upstream-nginx")
    lines.append(f"mirror: upstream nginx on {UPSTREAM_LISTEN} (https {UPSTREAM_TLS_LISTEN}) "
                 f"{'running pid ' + str(pid) if pid else 'stopped'}")
    root = lab.state_dir / "nodes" / CLIENT_NODE / "root"
    lines.append(f"mirror: client chroot {root} {'ready' if (root / 'usr/bin/apt-get').exists() else 'absent'}")
    return lines


def register_blocks(lab: LabContext) -> list[str]:
    from blocks.mirror import MirrorHost, MirrorKeyring, MirrorUpstreamCA

    # a generous connect timeout: on a loaded 2-core CI machine an SSH handshake can take over 10 s
    for node, ip, name in ((MIRROR_NODE, MIRROR_IP, "lab-mirror-ssh"), (CLIENT_NODE, CLIENT_IP, "lab-mirror-client-ssh")):
        target = lab.ssh_target(node, ip)
        target.connect_timeout = 45.0
        target.save(name, overwrite=True)
    run = lab.node_run_dir(MIRROR_NODE) / "nginx"
    conf = str(run / "nginx.conf")
    MirrorHost(root=str(srv_dir(lab)), base_url=f"http://{MIRROR_IP}", ssh_target="lab-mirror-ssh",
               cache_dir=str(area_dir(lab) / "cache"), listen=f"{MIRROR_IP}:80",
               web_conf_path=str(run / "sites" / "powerops-mirrors.conf"),
               web_test_command=["nginx", "-t", "-q", "-c", conf, "-p", str(run)],
               web_reload_command=["nginx", "-c", conf, "-p", str(run), "-s", "reload"],
               ).save("lab-mirror-host", overwrite=True)
    key = ensure_key(key_dir(lab), "powerops upstream")
    MirrorKeyring(armored_keys=key.public_armored().decode(),
                  allowed_fingerprints=[key.fingerprint]).save("lab-mirror-upstream", overwrite=True)
    MirrorUpstreamCA(ca_pem=ensure_ca(tls_dir(lab)).ca_pem.read_text()).save("lab-mirror-upstream-ca", overwrite=True)
    return ["lab-mirror-ssh", "lab-mirror-client-ssh", "lab-mirror-host", "lab-mirror-upstream", "lab-mirror-upstream-ca"]
