"""The lab's PowerVC stand-in: real OpenStack services (Keystone, Placement, Nova, Cinder, Neutron API).

Everything runs inside the lab namespace ``pwl-powervc`` (10.250.77.90), which also runs sshd: the flows reach
the APIs at https://10.250.77.90:<port> (a lab CA signs the certificate) and the "PowerVC host" over SSH for
the configuration files and the ``powervc-services`` command. MariaDB and RabbitMQ are private instances on
the namespace's loopback. Measured facts and traps applied: shared/notes/lab-openstack.md.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import netns
from lab.context import LabContext

NODE = "powervc"
IP = f"{netns.PREFIX}.90"
HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
COMPUTE_HOSTS = ("9119MME_1009425", "9119MME_0696010")
PORTS = {"keystone": 5000, "placement": 8778, "nova-api": 8774, "neutron": 9696, "cinder-api": 8776}
VOLUME_TYPES = ("svc1 base template", "svc2 base template", "svc3")
INITIAL_FILTERS = ("ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,"
                   "ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter")
DATABASES = ("keystone", "placement", "nova_api", "nova", "nova_cell0", "cinder", "neutron")


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def ca(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def nova_conf(self) -> Path:
        return self.etc / "nova" / "nova.conf"

    @property
    def cinder_confs(self) -> list[Path]:
        return [self.etc / "cinder" / "cinder.conf", self.etc / "cinder" / "cinder-svc2.conf"]

    @property
    def ceilometer_conf(self) -> Path:
        return self.etc / "ceilometer" / "ceilometer.conf"

    def marker(self, step: str) -> Path:
        return self.root / "done" / step


def paths(lab: LabContext) -> Paths:
    return Paths(lab.state_dir / "openstack")


def url(port: int, suffix: str = "") -> str:
    return f"https://{IP}:{port}{suffix}"


# -- secrets and TLS --------------------------------------------------------------------------------------

def ensure_secrets(p: Paths) -> dict[str, str]:
    if p.secrets.exists():
        return dict(json.loads(p.secrets.read_text()))
    p.root.mkdir(parents=True, exist_ok=True)
    values = {k: secrets.token_urlsafe(18) for k in ("db", "rabbit", "admin", "service", "hb02")}
    p.secrets.write_text(json.dumps(values))
    p.secrets.chmod(0o600)
    return values


def ensure_tls(p: Paths) -> None:
    """A lab CA and a server certificate for the PowerVC host (IP and DNS names)."""
    if (p.tls / "server.pem").exists():
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    p.tls.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "powerops lab PowerVC CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([
        x509.DNSName(f"{NODE}.{netns.DOMAIN}"), x509.DNSName(NODE), x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address(IP)), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{NODE}.{netns.DOMAIN}")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    p.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (p.tls / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = p.tls / "server.key"
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    keyfile.chmod(0o600)


# -- the OpenStack virtual environment --------------------------------------------------------------------

def requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def ensure_venv(p: Paths) -> None:
    """Build <state>/openstack/venv from the pinned requirements once (rebuilt when they change)."""
    marker = p.venv / ".powerops-requirements.sha256"
    digest = requirements_digest()
    if marker.exists() and marker.read_text().strip() == digest:
        return
    python = shutil.which("python3", path="/usr/bin") or "python3"
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "--allow-existing", "--python", python, str(p.venv)], check=True)
        subprocess.run([uv, "pip", "install", "--python", str(p.venv / "bin" / "python"),
                        "-r", str(REQUIREMENTS)], check=True)
    else:
        subprocess.run([python, "-m", "venv", str(p.venv)], check=True)
        subprocess.run([str(p.venv / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    marker.write_text(digest + "\n")


# -- configuration files -----------------------------------------------------------------------------------

def _ini(sections: dict[str, dict[str, str]]) -> str:
    out = []
    for name, values in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {v}" for k, v in values.items())
        out.append("")
    return "\n".join(out)


def _auth(s: dict[str, str], user: str) -> dict[str, str]:
    return {
        "auth_type": "password", "auth_url": url(PORTS["keystone"], "/v3"), "project_domain_name": "Default",
        "user_domain_name": "Default", "project_name": "service", "username": user,
        "password": s["service"], "cafile": "", "region_name": "RegionOne",
    }


def render_configs(p: Paths, s: dict[str, str]) -> dict[Path, str]:
    db = f"mysql+pymysql://openstack:{s['db']}@127.0.0.1"
    rabbit = f"rabbit://openstack:{s['rabbit']}@127.0.0.1:5672/"
    ca = str(p.ca)

    def auth(user: str) -> dict[str, str]:
        a = _auth(s, user)
        a["cafile"] = ca
        return a

    def authtoken(user: str) -> dict[str, str]:
        a = auth(user)
        a["www_authenticate_uri"] = url(PORTS["keystone"], "/v3")
        a["service_token_roles_required"] = "true"  # noqa: S105 - not a password
        return a

    common = {"debug": "false", "use_stderr": "true", "transport_url": rabbit, "my_ip": IP}
    locks = {"lock_path": str(p.data / "locks")}
    files: dict[Path, str] = {}
    files[p.etc / "keystone" / "keystone.conf"] = _ini({
        "DEFAULT": {"debug": "false", "use_stderr": "true"},
        "database": {"connection": f"{db}/keystone"},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(p.data / "keystone" / "fernet-keys")},
        "credential": {"key_repository": str(p.data / "keystone" / "credential-keys")},
    })
    files[p.etc / "placement" / "placement.conf"] = _ini({
        "DEFAULT": {"debug": "false", "use_stderr": "true"},
        "api": {"auth_strategy": "keystone"},
        "placement_database": {"connection": f"{db}/placement"},
        "keystone_authtoken": authtoken("placement"),
    })
    files[p.etc / "nova" / "nova.conf"] = _ini({
        "DEFAULT": {**common, "compute_driver": "fake.FakeDriverWithoutFakeNodes",
                    "state_path": str(p.data / "nova"), "instances_path": str(p.data / "nova" / "instances"),
                    "osapi_compute_workers": "1", "metadata_workers": "1", "allow_resize_to_same_host": "true"},
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": f"{db}/nova_api"},
        "database": {"connection": f"{db}/nova"},
        "keystone_authtoken": authtoken("nova"),
        "service_user": {**auth("nova"), "send_service_user_token": "true"},
        "placement": auth("placement"),
        "neutron": auth("neutron"),
        "cinder": {"os_region_name": "RegionOne", "cafile": ca, "catalog_info": "block-storage:cinderv3:publicURL"},
        "glance": {"endpoint_override": "http://127.0.0.1:9292"},
        "conductor": {"workers": "1"},
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "15"},
        "filter_scheduler": {"enabled_filters": INITIAL_FILTERS},
        "oslo_concurrency": locks,
        "oslo_messaging_notifications": {"driver": "noop"},
        "vnc": {"enabled": "false"},
    })
    for host in COMPUTE_HOSTS:
        files[p.etc / "nova" / f"compute-{host}.conf"] = _ini({
            "DEFAULT": {"host": host, "state_path": str(p.data / "nova" / host),
                        "instances_path": str(p.data / "nova" / host / "instances")},
        })
    cinder_base = {
        "DEFAULT": {**common, "auth_strategy": "keystone", "enabled_backends": "fake",
                    "state_path": str(p.data / "cinder"), "osapi_volume_workers": "1",
                    "api_paste_config": str(p.venv / "etc" / "cinder" / "api-paste.ini"),
                    "glance_api_servers": "http://127.0.0.1:9292", "osapi_max_limit": "15000",
                    "default_volume_type": VOLUME_TYPES[0]},
        "database": {"connection": f"{db}/cinder"},
        "keystone_authtoken": authtoken("cinder"),
        "nova": auth("nova"),
        "oslo_concurrency": locks,
        "oslo_messaging_notifications": {"driver": "noop"},
        "fake": {"volume_driver": "cinder.tests.fake_driver.FakeLoggingVolumeDriver",
                 "volume_backend_name": "fake"},
    }
    files[p.etc / "cinder" / "cinder.conf"] = _ini(cinder_base)
    # PowerVC keeps one cinder configuration file per storage provider; this one disagrees on purpose.
    files[p.etc / "cinder" / "cinder-svc2.conf"] = _ini({
        "DEFAULT": {"osapi_max_limit": "10000", "enabled_backends": "svc2"},
        "svc2": {"volume_backend_name": "svc2"},
    })
    files[p.etc / "neutron" / "neutron.conf"] = _ini({
        "DEFAULT": {**common, "core_plugin": "ml2", "service_plugins": "router,port_forwarding",
                    "auth_strategy": "keystone", "api_workers": "1", "rpc_workers": "0",
                    "api_paste_config": str(p.venv / "etc" / "neutron" / "api-paste.ini"),
                    "notify_nova_on_port_status_changes": "false", "notify_nova_on_port_data_changes": "false",
                    "state_path": str(p.data / "neutron")},
        "database": {"connection": f"{db}/neutron"},
        "keystone_authtoken": authtoken("neutron"),
        "nova": auth("nova"),
        "ml2": {"type_drivers": "flat", "tenant_network_types": "", "mechanism_drivers": "",
                "extension_drivers": "port_security"},
        "oslo_concurrency": locks,
    })
    files[p.ceilometer_conf] = _ini({
        "DEFAULT": {"debug": "false"},
        "database": {"event_time_to_live": str(270 * 86400),
                     "event_connection": f"sqlite:///{p.data / 'ceilometer' / 'events.sqlite'}"},
    })
    files[p.etc / "rabbitmq" / "rabbitmq.conf"] = "\n".join([
        "listeners.tcp.default = 127.0.0.1:5672", "default_user = openstack", f"default_pass = {s['rabbit']}",
        "loopback_users = none", "log.file.level = warning", "",
    ])
    files[p.etc / "rabbitmq" / "enabled_plugins"] = "[].\n"
    return files


def write_configs(p: Paths, s: dict[str, str]) -> None:
    """Write every configuration file once: afterwards they belong to the PowerVC host (flows edit them)."""
    if p.marker("configs").exists():
        return
    for path, text in render_configs(p, s).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o640)
    shutil.copy(p.venv / "etc" / "nova" / "api-paste.ini", p.etc / "nova" / "api-paste.ini")
    for d in ("locks", "keystone", "nova", "cinder", "neutron", "ceilometer", "mysql", "rabbitmq/home"):
        (p.data / d).mkdir(parents=True, exist_ok=True)
    for host in COMPUTE_HOSTS:
        (p.data / "nova" / host / "instances").mkdir(parents=True, exist_ok=True)
    p.marker("configs").parent.mkdir(parents=True, exist_ok=True)
    p.marker("configs").touch()


# -- the service table powervc-services reads -------------------------------------------------------------

def service_table(p: Paths) -> list[tuple[str, dict[str, object]]]:
    v = p.venv / "bin"
    base_env = {"PATH": f"{v}:/usr/sbin:/usr/bin:/sbin:/bin", "REQUESTS_CA_BUNDLE": str(p.ca),
                "PYTHONDONTWRITEBYTECODE": "1"}
    rabbit_home = p.data / "rabbitmq" / "home"
    table: list[tuple[str, dict[str, object]]] = [
        ("mariadb", {"group": "infra", "port": 3306, "argv": [
            "/usr/sbin/mariadbd", "--no-defaults", "--user=root", f"--datadir={p.data / 'mysql'}",
            f"--socket={p.run / 'mysql.sock'}", "--port=3306", "--bind-address=127.0.0.1",
            f"--pid-file={p.run / 'mariadbd.pid'}", "--skip-name-resolve", "--max-connections=600",
            "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin"]}),
        ("rabbitmq", {"group": "infra", "port": 5672, "argv": ["/usr/lib/rabbitmq/bin/rabbitmq-server"], "env": {
            "HOME": str(rabbit_home), "RABBITMQ_NODENAME": "rabbit@localhost",
            "RABBITMQ_CONFIG_FILE": str(p.etc / "rabbitmq" / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(p.etc / "rabbitmq" / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(p.data / "rabbitmq" / "mnesia"),
            "RABBITMQ_LOG_BASE": str(p.log / "rabbitmq"), "RABBITMQ_PID_FILE": str(p.run / "rabbitmq-beam.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1"}}),
    ]

    def gunicorn(name: str, app: str, env: dict[str, str], args: str = "") -> None:
        table.append((name, {"port": PORTS[name], "host": IP, "argv": [
            str(v / "gunicorn"), "--no-control-socket", "-w", "1", "--timeout", "600",
            "-b", f"0.0.0.0:{PORTS[name]}", "--certfile", str(p.tls / "server.pem"),
            "--keyfile", str(p.tls / "server.key"), "--pythonpath", str(p.root / "shim"),
            "powerops_wsgi:application"],
            "env": {**base_env, **env, "POWEROPS_WSGI_APP": app, "POWEROPS_WSGI_ARGS": args}}))

    gunicorn("keystone", "keystone.wsgi.api", {"OS_KEYSTONE_CONFIG_DIR": str(p.etc / "keystone")})
    gunicorn("placement", "placement.wsgi.api", {"OS_PLACEMENT_CONFIG_DIR": str(p.etc / "placement")})
    gunicorn("neutron", "neutron.wsgi.api", {"OS_NEUTRON_CONFIG_DIR": str(p.etc / "neutron"),
                                             "OS_NEUTRON_CONFIG_FILES": "neutron.conf"})
    gunicorn("nova-api", "nova.wsgi.osapi_compute", {"OS_NOVA_CONFIG_DIR": str(p.etc / "nova"),
                                                     "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf"})
    gunicorn("cinder-api", "cinder.wsgi.api", {}, f"--config-file {p.etc / 'cinder' / 'cinder.conf'}")
    nova = ["--config-file", str(p.nova_conf)]
    table.append(("nova-conductor", {"argv": [str(v / "nova-conductor"), *nova], "env": base_env}))
    table.append(("nova-scheduler", {"argv": [str(v / "nova-scheduler"), *nova], "env": base_env}))
    for host in COMPUTE_HOSTS:
        table.append((f"nova-compute-{host}", {"argv": [
            str(v / "nova-compute"), *nova, "--config-file", str(p.etc / "nova" / f"compute-{host}.conf")],
            "env": base_env}))
    cinder = ["--config-file", str(p.etc / "cinder" / "cinder.conf")]
    table.append(("cinder-scheduler", {"argv": [str(v / "cinder-scheduler"), *cinder], "env": base_env}))
    table.append(("cinder-volume", {"argv": [str(v / "cinder-volume"), *cinder], "env": base_env}))
    for name, spec in table:
        spec["log"] = str(p.log / f"{name}.log")
    return table


def write_service_table(p: Paths) -> None:
    for d in (p.bin, p.log, p.run, p.root / "shim", p.log / "rabbitmq"):
        d.mkdir(parents=True, exist_ok=True)
    (p.root / "services.json").write_text(json.dumps(service_table(p), indent=1))
    for script in ("powervc-services", "powervc-config", "ceilometer-expirer"):
        target = p.bin / script
        shutil.copy(HERE / "bin" / script, target)
        target.chmod(0o755)
    shutil.copy(HERE / "shim" / "powerops_wsgi.py", p.root / "shim" / "powerops_wsgi.py")
    cookie = p.data / "rabbitmq" / "home" / ".erlang.cookie"
    cookie.parent.mkdir(parents=True, exist_ok=True)
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16))
    cookie.chmod(0o400)


def in_ns(argv: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None,
          check: bool = True) -> subprocess.CompletedProcess[bytes]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = subprocess.run(netns.exec_argv(NODE, argv), env=full_env, input=stdin, capture_output=True, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {r.returncode}: "
                           f"{(r.stderr or r.stdout).decode(errors='replace')[-2000:]}")
    return r
