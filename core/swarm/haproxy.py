"""haproxy in front of a swarm service: the rendering inputs of ``haproxy.cfg`` and the stats CSV parser.
Pure (the template is ``templates/haproxy/haproxy.cfg.j2``, rendered with StrictUndefined)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import InvalidInput
from core.names import validate_host
from core.render import render

BACKEND = "swarm_service"
FRONTEND = "http_front"


@dataclass(frozen=True)
class Tuning:
    """Health checks and retries. The defaults are the measured 'lost 0 requests on a hard node loss' set."""

    check_inter_ms: int = 500
    fall: int = 2
    rise: int = 2
    timeout_connect_ms: int = 500
    timeout_client_ms: int = 30000
    timeout_server_ms: int = 3000
    retries: int = 3
    redispatch: bool = True
    observe_layer4: bool = True
    http_check: bool = False  # the seed: plain `check` (TCP connect); True: GET / must answer 2xx/3xx
    maxconn: int = 4096


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int


@dataclass(frozen=True)
class HaproxyConfig:
    layout: str  # seed: static servers | dns: server-template over tasks.<service>
    bind_port: int
    stats_port: int
    stats_uri: str
    service: str
    service_port: int
    servers: tuple[Server, ...] = ()
    slots: int = 20
    resolver: str = "127.0.0.11:53"
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        if self.layout not in ("seed", "dns"):
            raise InvalidInput(f"haproxy layout must be seed or dns, not {self.layout!r}")
        if self.layout == "seed" and not self.servers:
            raise InvalidInput("the seed layout needs at least one backend server")
        if self.bind_port == self.stats_port:
            raise InvalidInput(f"frontend and stats cannot both use port {self.bind_port}")
        if not self.stats_uri.startswith("/") or any(c in self.stats_uri for c in " \t\n;#"):
            raise InvalidInput(f"bad stats uri {self.stats_uri!r}")
        for s in self.servers:
            validate_host(s.address)
            if not s.name.replace("-", "").replace("_", "").isalnum():
                raise InvalidInput(f"bad server name {s.name!r}")


def render_config(cfg: HaproxyConfig) -> str:
    values: dict[str, Any] = asdict(cfg)
    values["backend"] = BACKEND
    values["frontend"] = FRONTEND
    return render("haproxy/haproxy.cfg.j2", cfg=values)


@dataclass(frozen=True)
class ServerStat:
    proxy: str
    name: str
    status: str  # UP | DOWN | MAINT | no check | UP 1/2 ...
    addr: str
    check_status: str
    sessions_total: int

    @property
    def up(self) -> bool:
        return self.status.startswith("UP") or self.status == "no check"


def parse_stats_csv(text: str, proxy: str = BACKEND) -> list[ServerStat]:
    """Servers of ``proxy`` from ``GET <stats uri>;csv`` (header line starts with '# pxname,svname,')."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# pxname,svname"):
        raise InvalidInput("not an haproxy stats CSV (missing '# pxname,svname' header)")
    rows = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    out = []
    for r in rows:
        if r.get("pxname") != proxy or r.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        out.append(ServerStat(proxy=proxy, name=r.get("svname", ""), status=r.get("status", ""),
                              addr=r.get("addr", "") or "", check_status=r.get("check_status", "") or "",
                              sessions_total=int(r.get("stot") or 0)))
    return out


def active_servers(stats: Sequence[ServerStat]) -> list[ServerStat]:
    """Servers that have an address (server-template slots without a DNS answer are in MAINT, no address)."""
    unset = "0.0.0.0"  # noqa: S104 - an address value in the stats, not a bind
    return [s for s in stats if not s.status.startswith("MAINT") and s.addr and not s.addr.startswith(unset)]


def host_of(addr: str) -> str:
    return addr.rsplit(":", 1)[0] if addr else ""


def endpoints(layout: str, seed_lb_address: str | None, dns_lb_address: str, port: int, stats_port: int,
              stats_uri: str) -> tuple[str, str]:
    """(service URL, stats URL) of the haproxy in front of the service for a layout."""
    if layout == "seed":
        if not seed_lb_address:
            raise InvalidInput("the seed layout needs a load_balancer (haproxy host block) in the inventory")
        addr = seed_lb_address
    else:
        addr = dns_lb_address
    return f"http://{addr}:{port}/", f"http://{addr}:{stats_port}{stats_uri}"


def container_name(service: str) -> str:
    return f"powerops-haproxy-{service}"
