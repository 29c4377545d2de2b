"""Tasks over a fake SSH connection that answers only the commands a test declared (and refuses others)."""

from __future__ import annotations

import contextlib
import shlex

import pytest

from core.hmc import commands as C
from core.hmc.errors import HmcCommandError, PartitionNotFound
from seams.ssh import CommandResult
from tasks import hmc as th


class FakeConnection:
    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def run(self, argv, *, stdin=None, check=True, timeout=None, env=None):
        key = tuple(argv)
        if key not in self.answers:
            raise AssertionError(f"undeclared command: {shlex.join(argv)}")
        self.calls.append(list(argv))
        rc, out, err = self.answers[key]
        return CommandResult("hmc", shlex.join(argv), out, err, rc)


class FakeHmc:
    host = "hmc.example"
    concurrency_key = "hmc:hmc.example:22"

    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    def connect(self) -> FakeConnection:
        return self.conn


@pytest.fixture(autouse=True)
def no_prefect_api(monkeypatch):
    monkeypatch.setattr(th, "concurrency", lambda *a, **k: contextlib.nullcontext())


def test_read_vnics_asks_explicit_fields_and_parses():
    argv = C.lshwres_vnic("sys1", "lizard")
    fields = argv[argv.index("-F") + 1].split("%")
    assert fields == ["lpar_name", "lpar_id", "slot_num", "port_vlan_id", "mac_addr", "auto_priority_failover",
                      "backing_devices", "backing_device_states"]
    line = ("lizard%6%6%3455%fa7b2c8f9e06%0%sriov/vios1/1/1/1/2700400b/2.0/2.0/10/100.0/100.0"
            "%sriov/2700400b/1/Operational")
    conn = FakeConnection({tuple(argv): (0, line + "\n", "")})
    vnics = th.read_vnics.fn(FakeHmc(conn), "sys1", "lizard")
    assert conn.calls == [argv]
    assert vnics[0].active_device is not None and vnics[0].active_device.logical_port_id == "2700400b"


def test_hscl_errors_are_typed():
    argv = C.lssyscfg_lpar("sys1")
    conn = FakeConnection({tuple(argv): (1, "", "HSCL8012 The partition named x was not found.\n")})
    with pytest.raises(PartitionNotFound) as info:
        th.read_partitions.fn(FakeHmc(conn), "sys1")
    assert info.value.code == "HSCL8012"
    conn.answers[tuple(argv)] = (1, "", "An invalid attribute was entered.  The invalid attribute is x.\n")
    with pytest.raises(HmcCommandError) as info2:
        th.read_partitions.fn(FakeHmc(conn), "sys1")
    assert info2.value.code is None and "invalid attribute" in str(info2.value)


def test_no_results_is_an_empty_list_even_with_rc1():
    argv = C.lshwres_vnic("sys1", "lizard")
    conn = FakeConnection({tuple(argv): (1, "No results were found.\n", "")})
    assert th.read_vnics.fn(FakeHmc(conn), "sys1", "lizard") == []


def test_undeclared_commands_are_refused():
    conn = FakeConnection({})
    with pytest.raises(AssertionError, match="undeclared command: lshmc -V"):
        th.read_hmc_version.fn(FakeHmc(conn))
