"""Management-host tasks against a fake SSH connection that answers only declared commands, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.logging import disable_run_logger

from blocks.powervc import PowerVC
from core.powervc import novaconf
from seams.ssh import CommandResult
from tasks import powervc as t

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "powervc"


class FakeSsh:
    """Declared (argv, stdout, stderr, rc) answers consumed in order; files in a dict; anything else fails."""

    host = "powervc.example"

    def __init__(self, script: list[tuple[list[str], str, str]], files: dict[str, bytes]) -> None:
        self.script = list(script)
        self.files = dict(files)
        self.writes: list[str] = []

    def run(self, argv, *, stdin=None, check=True, timeout=None, env=None):  # type: ignore[no-untyped-def]
        assert self.script, f"undeclared command {argv}"
        want, out, err = self.script.pop(0)
        assert list(argv) == want, f"expected {want}, got {argv}"
        return CommandResult(self.host, " ".join(argv), out, err, 0)

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> bool:
        self.writes.append(path)
        changed = self.files.get(path) != data
        self.files[path] = data
        return changed


@pytest.fixture()
def cloud() -> PowerVC:
    return PowerVC(auth_url="https://powervc.example:5000/v3", password="x")


def test_event_ttl_commands_are_the_seeds(cloud: PowerVC, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSsh([
        (["/usr/bin/powervc-config", "metering", "event_ttl"], "event_ttl = 270 day\n", ""),
        (["/usr/bin/powervc-config", "metering", "event_ttl", "--set", "2", "--unit", "hr"], "set\n", ""),
        (["/usr/bin/ceilometer-expirer", "--config-file", "/etc/ceilometer/ceilometer.conf"],
         "dropped 1199 events, 1 left\n", "INFO ceilometer.cmd.storage Dropping event data with TTL 7200\n"),
    ], {})
    monkeypatch.setattr(t, "_ssh", lambda c: fake)
    assert str(t.read_event_ttl.fn(cloud)) == "270 day"
    t.set_event_ttl.fn(cloud, 2, "hr")
    assert t.run_ceilometer_expirer.fn(cloud) == "dropped 1199 events, 1 left"
    assert fake.script == []


def test_enable_filter_backs_up_then_edits_and_runs_nothing(cloud: PowerVC,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seed = (FIX / "nova.conf.powervc-seed").read_bytes()
    fake = FakeSsh([], {"/etc/nova/nova.conf": seed})
    monkeypatch.setattr(t, "_ssh", lambda c: fake)
    with disable_run_logger():
        backup = t.enable_scheduler_filter.fn(cloud)
    assert backup.startswith("/var/backups/powerops/etc_nova_nova.conf.")
    assert fake.files[backup] == seed
    assert fake.writes == [backup, "/etc/nova/nova.conf"]  # backup first
    assert novaconf.scheduler_filters(fake.files["/etc/nova/nova.conf"].decode()).multi_tenancy
    with disable_run_logger():
        assert t.enable_scheduler_filter.fn(cloud) == ""  # already there: no backup, no write
    assert len(fake.writes) == 2


def test_health_rows_sql_goes_on_stdin(cloud: PowerVC, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes | None] = []

    class Recording(FakeSsh):
        def run(self, argv, *, stdin=None, **kw):  # type: ignore[no-untyped-def]
            seen.append(stdin)
            return super().run(argv, stdin=stdin, **kw)

    fake = Recording([(["mysql", "-B", "-N", "nova"], (FIX / "health_rows.mysql-B-N.txt").read_text(), "")], {})
    monkeypatch.setattr(t, "_ssh", lambda c: fake)
    rows = t.read_health_rows.fn(cloud)
    assert len(rows) == 3 and seen[0] is not None and b"SELECT id, health_state" in seen[0]
