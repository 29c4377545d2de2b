"""Following a network install through named milestones, from the install server's logs (pure).

Sources, as the install server writes them:
* ``boot``: dnsmasq (``--log-dhcp``) DHCP/BOOTP and TFTP lines, or bootpd/tftpd syslog lines;
* ``http``: the HTTP server's access log in the combined format (nginx, apache);
* ``console``: the partition's console where one is available (the lab's serial log; a real HMC's vterm).

A ``Tracker`` is fed lines in the order they were read and records when each milestone was first reached,
the first fatal sign (firmware exception, GRUB error, HTTP 404 on the kernel, ...) and the lines that
concern the partition, so a failure message can name the last milestone and show the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Source = Literal["boot", "http", "console"]


class Milestone(StrEnum):
    BOOTP_ANSWERED = "bootp answered"
    BOOT_FILE_SENT = "boot file sent"
    GRUB_CFG_READ = "grub.cfg read"
    KERNEL_FETCHED = "kernel fetched"
    INITRD_FETCHED = "initrd fetched"
    INSTALLER_STARTED = "installer started"
    CONFIG_FETCHED = "installer config fetched"


ORDER: list[Milestone] = list(Milestone)


@dataclass(frozen=True)
class LogLine:
    source: Source
    text: str
    at: float  # seconds since the netboot was triggered, when the line was read


@dataclass(frozen=True)
class Target:
    """What the partition is expected to fetch (paths as the servers log them)."""

    mac: str  # aa:bb:cc:dd:ee:ff
    ip: str
    boot_file: str  # TFTP path relative to the TFTP root
    grub_cfg: str  # TFTP path relative to the TFTP root of grub.cfg-01-<mac>
    kernel: str  # URL path
    initrd: str  # URL path
    configs: tuple[str, ...]  # URL paths of the installer configuration (pvm-install.cfg, preseed.cfg)
    kernel_size: int = 0  # when known, a 200 shorter than this is GRUB reading the ELF header only
    initrd_size: int = 0


@dataclass(frozen=True)
class HttpRequest:
    client: str
    method: str
    path: str
    status: int
    size: int
    agent: str


_COMBINED = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[0-9.]+)?" '
    r'(?P<status>\d{3}) (?P<size>\d+|-)(?: "[^"]*" "(?P<agent>[^"]*)")?')


def parse_access_line(text: str) -> HttpRequest | None:
    m = _COMBINED.match(text.strip())
    if not m:
        return None
    size = m.group("size")
    return HttpRequest(m.group("client"), m.group("method"), m.group("path").split("?", 1)[0],
                       int(m.group("status")), 0 if size == "-" else int(size), m.group("agent") or "")


_DHCP_ANSWER = re.compile(r"\b(?:DHCPACK|DHCPOFFER|BOOTP)\((?P<iface>[^)]*)\) (?P<ip>\d+\.\d+\.\d+\.\d+) "
                          r"(?P<mac>[0-9a-f:]{17})", re.I)
_DHCP_UNANSWERED = re.compile(r"\b(?:DHCPDISCOVER|BOOTP|DHCPREQUEST)\([^)]*\) (?:\d+\.\d+\.\d+\.\d+ )?"
                              r"(?P<mac>[0-9a-f:]{17}) (?P<why>no address (?:available|configured)|ignored.*)",
                              re.I)
_TFTP_SENT = re.compile(r"\bsent (?P<path>\S+) to (?P<ip>\d+\.\d+\.\d+\.\d+)")
_TFTP_NOT_FOUND = re.compile(r"\bfile (?P<path>\S+) not found(?: for (?P<ip>\d+\.\d+\.\d+\.\d+))?")
_BOOTPD_REPLY = re.compile(r"bootpd.*(?:sending reply|found (?P<ip>\d+\.\d+\.\d+\.\d+)).*", re.I)
_BOOTPD_MAC = re.compile(r"request from Ethernet address (?P<mac>[0-9A-F:]{17})", re.I)
_TFTPD_RRQ = re.compile(r"RRQ from (?P<ip>\d+\.\d+\.\d+\.\d+) filename (?P<path>\S+)")

FIRMWARE_FATAL = re.compile(r"Program Exception|E3001|E3407|E3050|Kernel panic|kernel panic", re.I)
GRUB_ERROR = re.compile(r"^\s*error: (?P<msg>.+)$", re.M)
KERNEL_STARTED = re.compile(r"Kernel command line:|Linux version \d")
INSTALLER_STARTED_RE = re.compile(r"debian-installer|Starting system log daemon|pvm-install|init: starting")


def _tftp_rel(path: str) -> str:
    return path.lstrip("/")


@dataclass
class Tracker:
    target: Target
    reached: dict[Milestone, float] = field(default_factory=dict)
    fatal: str | None = None
    fatal_line: LogLine | None = None
    relevant: list[LogLine] = field(default_factory=list)
    unanswered_macs: dict[str, str] = field(default_factory=dict)
    kernel_started: bool = False

    # -- feeding ---------------------------------------------------------------------------------------

    def feed(self, line: LogLine) -> None:
        handler = {"boot": self._boot, "http": self._http, "console": self._console}[line.source]
        handler(line)

    def feed_all(self, lines: list[LogLine]) -> None:
        for line in lines:
            self.feed(line)

    def _mark(self, m: Milestone, line: LogLine) -> None:
        self._keep(line)
        if m not in self.reached:
            self.reached[m] = line.at

    def _keep(self, line: LogLine) -> None:
        self.relevant.append(line)
        del self.relevant[:-40]

    def _fail(self, why: str, line: LogLine) -> None:
        self._keep(line)
        if self.fatal is None:
            self.fatal, self.fatal_line = why, line

    def _boot(self, line: LogLine) -> None:
        t, text = self.target, line.text
        if m := _DHCP_ANSWER.search(text):
            if m.group("mac").lower() == t.mac and "no address" not in text:
                self._mark(Milestone.BOOTP_ANSWERED, line)
            return
        if m := _DHCP_UNANSWERED.search(text):
            mac = m.group("mac").lower()
            if mac == t.mac:
                self._keep(line)
            else:
                self.unanswered_macs[mac] = m.group("why")
            return
        if (m := _BOOTPD_MAC.search(text)) and m.group("mac").lower() == t.mac:
            self._keep(line)
            return
        if (m := _BOOTPD_REPLY.search(text)) and (m.group("ip") in (None, t.ip)):
            if m.group("ip") == t.ip:
                self._mark(Milestone.BOOTP_ANSWERED, line)
            return
        if m := _TFTP_SENT.search(text):
            if m.group("ip") != t.ip:
                return
            path = _tftp_rel(m.group("path"))
            if path.endswith(t.boot_file):
                self._mark(Milestone.BOOT_FILE_SENT, line)
            elif path.endswith(t.grub_cfg):
                self._mark(Milestone.GRUB_CFG_READ, line)
            else:
                self._keep(line)
            return
        if m := _TFTPD_RRQ.search(text):
            if m.group("ip") == t.ip:
                path = _tftp_rel(m.group("path"))
                if path.endswith(t.boot_file):
                    self._mark(Milestone.BOOT_FILE_SENT, line)
                elif path.endswith(t.grub_cfg):
                    self._mark(Milestone.GRUB_CFG_READ, line)
            return
        if m := _TFTP_NOT_FOUND.search(text):
            ip = m.group("ip")
            if ip not in (None, t.ip):
                return
            path = _tftp_rel(m.group("path"))
            if path.endswith(t.boot_file):
                self._fail(f"the boot server has no boot file {t.boot_file} (TFTP: not found)", line)
            elif path.endswith(t.grub_cfg):
                self._fail(f"the boot server has no {t.grub_cfg} for this partition (TFTP: not found)", line)

    def _http(self, line: LogLine) -> None:
        req = parse_access_line(line.text)
        t = self.target
        if req is None or req.client != t.ip:
            return
        wanted = {t.kernel: Milestone.KERNEL_FETCHED, t.initrd: Milestone.INITRD_FETCHED}
        wanted.update({c: Milestone.CONFIG_FETCHED for c in t.configs})
        if t.grub_cfg.rsplit("/", 1)[-1] == req.path.rsplit("/", 1)[-1]:
            wanted[req.path] = Milestone.GRUB_CFG_READ
        milestone = wanted.get(req.path)
        if milestone is None:
            self._keep(line)
            return
        full = {Milestone.KERNEL_FETCHED: t.kernel_size, Milestone.INITRD_FETCHED: t.initrd_size}.get(milestone, 0)
        if req.status == 200 and full and req.size < full:
            self._keep(line)  # a partial read (GRUB reads the ELF header, then asks for the rest with Range)
        elif req.status in (200, 206, 304):
            self._mark(milestone, line)
            if milestone is Milestone.CONFIG_FETCHED:
                self.reached.setdefault(Milestone.INSTALLER_STARTED, line.at)
        elif req.status >= 400:
            self._fail(f"the install server answered HTTP {req.status} for the {milestone.value.split()[0]}"
                       f" ({req.path})", line)

    def _console(self, line: LogLine) -> None:
        text = line.text
        if FIRMWARE_FATAL.search(text):
            self._fail(f"the partition's firmware or kernel failed: {text.strip()}", line)
        elif KERNEL_STARTED.search(text):
            self.kernel_started = True
            self._keep(line)
            if Milestone.INITRD_FETCHED in self.reached or "Kernel command line" in text:
                self._mark(Milestone.INSTALLER_STARTED, line)
        elif (m := GRUB_ERROR.search(text)) and not self.kernel_started:
            self._fail(f"GRUB failed: {m.group('msg').strip()}", line)
        elif INSTALLER_STARTED_RE.search(text) and self.kernel_started:
            self._mark(Milestone.INSTALLER_STARTED, line)

    # -- reading ---------------------------------------------------------------------------------------

    def has(self, m: Milestone) -> bool:
        return m in self.reached

    @property
    def last(self) -> Milestone | None:
        """The furthest milestone reached (in ORDER), None before the boot server answered."""
        got = [m for m in ORDER if m in self.reached]
        return got[-1] if got else None

    def timeline(self) -> list[tuple[Milestone, float | None]]:
        return [(m, self.reached.get(m)) for m in ORDER]

    def failure_message(self, goal: Milestone, waited: float | None = None) -> str:
        last = self.last
        head = f"network install of {self.target.mac} ({self.target.ip}) "
        if self.fatal:
            head += f"failed: {self.fatal}"
        else:
            head += f"did not reach '{goal.value}'" + (f" within {waited:.0f}s" if waited is not None else "")
        head += f"; last milestone reached: {last.value if last else 'none (no BOOTP/DHCP answer)'}"
        hints = []
        if last is None and self.unanswered_macs:
            macs = ", ".join(f"{mac} ({why})" for mac, why in sorted(self.unanswered_macs.items()))
            hints.append(f"the boot server saw requests it did not answer from {macs}: check the partition's MAC")
        lines = [f"  [{ln.source} +{ln.at:.0f}s] {ln.text.strip()}" for ln in self.relevant[-12:]]
        return "\n".join([head, *hints, *(["relevant log lines:", *lines] if lines else [])])
