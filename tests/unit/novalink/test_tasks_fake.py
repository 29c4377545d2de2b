"""Tasks against a fake SSH connection that answers only the commands it was told about (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.logging import disable_run_logger
from pydantic import SecretStr

from blocks.novalink import NovaLinkInstallServer
from blocks.ssh import SshTarget
from core.novalink.errors import InstallMilestoneFailed
from core.novalink.milestones import Milestone
from core.novalink.model import InstallMedia, NovaLinkPartition
from seams.ssh import CommandResult

REC = Path(__file__).resolve().parents[2] / "fixtures" / "novalink" / "recorded-boot-ok"
SRV = "/var/lib/powerops-lab/netboot/srv"
LOGS = {"/logs/dnsmasq.log": "boot.log", "/logs/access.log": "access.log", "/console/nova0696010.log": "console.log"}


class FakeConn:
    """Serves growing log files: each ``stat`` round reveals one more chunk of every log."""

    host = "fake-instsrv"

    def __init__(self, logs: dict[str, str], chunks: int = 4, sizes: dict[str, int] | None = None) -> None:
        self.logs = {p: t.encode() for p, t in logs.items()}
        self.sizes = sizes or {}
        self.round = 0
        self.chunks = chunks
        self.calls: list[list[str]] = []
        self.files: dict[str, bytes] = {}

    def visible(self, path: str) -> bytes:
        data = self.logs[path]
        n = len(data) * min(self.round, self.chunks) // self.chunks
        cut = data.rfind(b"\n", 0, n) + 1 if n < len(data) else n
        return data[:cut]

    def run(self, argv, *, stdin=None, check=True, timeout=None, env=None):  # noqa: ARG002
        self.calls.append(list(argv))
        if argv[:2] == ["stat", "-L"]:
            out = "".join(f"{self.sizes[p]} 0 {p}\n" for p in argv[5:] if p in self.sizes)
            return CommandResult(self.host, " ".join(argv), out, "", 0)
        if argv[0] == "stat":
            path = argv[-1]
            if path == sorted(self.logs)[0]:
                self.round += 1
            return CommandResult(self.host, " ".join(argv), f"{len(self.visible(path))} 0 {path}\n", "", 0)
        if argv[0] == "tail":
            offset, path = int(argv[2][1:]) - 1, argv[-1]
            return CommandResult(self.host, " ".join(argv), self.visible(path)[offset:].decode(), "", 0)
        if argv[0] == "crontab":
            return CommandResult(self.host, "crontab -l", "15 0 * * * /usr/sbin/pvm-backup --type vios "
                                 "--frequency daily\n", "", 0)
        raise AssertionError(f"undeclared command {argv}")

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> bool:
        changed = self.files.get(path) != data
        self.files[path] = data
        return changed


@pytest.fixture
def server(monkeypatch) -> NovaLinkInstallServer:
    ssh = SshTarget(host="10.250.77.70", private_key=SecretStr("x"), host_key="ssh-ed25519 AAAA")
    return NovaLinkInstallServer(ssh=ssh, server_ip="10.250.77.70", http_root=SRV, base_dir=f"{SRV}/export",
                                 tftp_root=SRV, boot_log="/logs/dnsmasq.log", http_access_log="/logs/access.log",
                                 console_log_pattern="/console/{partition}.log")


@pytest.fixture
def part() -> NovaLinkPartition:
    return NovaLinkPartition(partition_name="nova0696010", mac="52:54:00:4e:4c:80", ip="10.250.77.80",
                             gateway="10.250.77.1", netmask="255.255.255.0")


MEDIA = InstallMedia(name="novalink-lab", installer="debian-installer")


def _logs(**replace: str) -> dict[str, str]:
    out = {p: (REC / name).read_text(errors="replace") for p, name in LOGS.items()}
    out.update(replace)
    return out


def test_follow_install_reaches_the_goal_on_the_recorded_boot(monkeypatch, server, part):
    from tasks.novalink import follow_install

    fake = FakeConn(_logs())
    monkeypatch.setattr(NovaLinkInstallServer, "connect", lambda self: fake)
    with disable_run_logger():
        timeline = follow_install.fn(server, MEDIA, part, {}, goal=Milestone.CONFIG_FETCHED, deadline_s=30,
                                     poll_s=0)
    assert [m for m, t in timeline if t is None] == []
    assert fake.round >= 4  # it really polled the growing logs


def test_follow_install_fails_at_the_deadline_with_the_last_milestone(monkeypatch, server, part):
    from tasks.novalink import follow_install

    access = (REC / "access.log").read_text().splitlines()
    fake = FakeConn(_logs(**{"/logs/access.log": "\n".join(access[:2]) + "\n",
                             "/console/nova0696010.log": ""}))
    monkeypatch.setattr(NovaLinkInstallServer, "connect", lambda self: fake)
    with disable_run_logger(), pytest.raises(InstallMilestoneFailed) as err:
        follow_install.fn(server, MEDIA, part, {}, deadline_s=0.2, poll_s=0.05)
    assert "last milestone reached: kernel fetched" in str(err.value)
    assert err.value.last is Milestone.KERNEL_FETCHED


def test_post_install_tasks(monkeypatch, part):
    from tasks.novalink import check_backup_crontab, write_apt_sources, write_time_and_dns

    fake = FakeConn({})
    monkeypatch.setattr(SshTarget, "connect", lambda self: fake)
    target = SshTarget(host="10.250.77.80", private_key=SecretStr("x"), host_key="ssh-ed25519 AAAA")
    changed = write_apt_sources.fn(target, "http://10.250.77.70/export/mirror", "novalink_1.0.0", "xenial")
    assert sorted(changed) == ["/etc/apt/sources.list.d/pvm.list", "/etc/apt/sources.list.d/rsct.list"]
    assert write_apt_sources.fn(target, "http://10.250.77.70/export/mirror", "novalink_1.0.0", "xenial") == []
    p = part.model_copy(update={"ntp": ["10.250.77.70"], "dns": ["10.250.77.70"], "domain": "powerops.test"})
    assert "/etc/resolv.conf" in write_time_and_dns.fn(target, p)
    assert len(check_backup_crontab.fn(target)) == 3  # only the daily vios entry is there
