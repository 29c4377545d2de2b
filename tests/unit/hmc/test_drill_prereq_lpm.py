from __future__ import annotations

import pytest

from core.hmc.drill import check_drill, parse_ping
from core.hmc.errors import DrillRefused
from core.hmc.lpm import check_labels
from core.hmc.models import (
    BackingDevice,
    BackingDeviceState,
    FirmwareLevel,
    HmcVersion,
    IosLevel,
    SriovAdapter,
    SriovPhysPort,
    Vnic,
)
from core.hmc.prereq import check_adapters, check_firmware, check_hmc, check_vios


def _vnic(devs, ops=None, active=0, auto=True):
    ops = ops or [True] * len(devs)
    st = tuple(BackingDeviceState(d.logical_port_id, i == active, "Operational" if ok else "NotOperational")
               for i, (d, ok) in enumerate(zip(devs, ops, strict=True)))
    return Vnic("lizard", 6, 6, 1, "AA", auto, tuple(devs), st)


A = BackingDevice("vios1", 1, 1, 1, "2700400b", "2.0", "2.0", 10)
B = BackingDevice("vios2", 2, 3, 1, "27008005", "2.0", "2.0", 20)
C_ = BackingDevice("vios1", 1, 2, 1, "2702400c", "2.0", "2.0", 30)
D = BackingDevice("vios2", 2, 4, 1, "27038006", "2.0", "2.0", 15)
RUNNING = {"vios1": "Running", "vios2": "Running"}


def test_drill_picks_the_next_priority_on_another_vios():
    t = check_drill(_vnic([A, B, C_, D]), RUNNING)
    assert t.active == A and t.expected_next == D  # 15 beats 20; C_ is on the same VIOS
    assert check_drill(_vnic([A, B, D]), RUNNING, activate="27008005").expected_next == B


def test_drill_refusals():
    with pytest.raises(DrillRefused, match="another running VIOS"):
        check_drill(_vnic([A, C_]), RUNNING)
    with pytest.raises(DrillRefused, match="another running VIOS"):
        check_drill(_vnic([A, B], ops=[True, False]), RUNNING)
    with pytest.raises(DrillRefused, match="another running VIOS"):
        check_drill(_vnic([A, B]), {"vios1": "Running", "vios2": "Not Activated"})
    with pytest.raises(DrillRefused, match="no active"):
        check_drill(_vnic([A, B], active=-1), RUNNING)
    with pytest.raises(DrillRefused, match="not an operational backing device"):
        check_drill(_vnic([A, B, C_]), RUNNING, activate="2702400c")


PING = """PING 10.250.77.50 (10.250.77.50) 56(84) bytes of data.
[1764000000.100000] 64 bytes from 10.250.77.50: icmp_seq=1 ttl=64 time=0.051 ms
[1764000000.300000] 64 bytes from 10.250.77.50: icmp_seq=2 ttl=64 time=0.040 ms
[1764000000.700000] no answer yet for icmp_seq=3
[1764000000.900000] no answer yet for icmp_seq=4
[1764000001.100000] 64 bytes from 10.250.77.50: icmp_seq=6 ttl=64 time=0.047 ms
[1764000001.100500] no answer yet for icmp_seq=5
[1764000001.300000] 64 bytes from 10.250.77.50: icmp_seq=5 ttl=64 time=900 ms

--- 10.250.77.50 ping statistics ---
6 packets transmitted, 4 received, 33.3333% packet loss, time 1200ms
"""


def test_ping_accounting():
    r = parse_ping(PING, 0.2)
    assert (r.transmitted, r.received, r.lost) == (6, 4, 2)
    assert r.lost_seqs == (3, 4)  # seq 5 answered late: not lost
    assert r.first_loss_at == pytest.approx(1764000000.7) and r.outage_seconds == 0.4


def test_prerequisites():
    assert check_hmc(HmcVersion(8, "8.6.0", 0, "x", ("MH01655",))).passed
    old = check_hmc(HmcVersion(8, "8.5.0", 1, "x"))
    assert not old.passed and "V8R8.6.0" in old.remedy
    nofix = check_hmc(HmcVersion(8, "8.6.0", 0, "x"))
    assert not nofix.passed and "MH01655" in nofix.remedy
    assert check_hmc(HmcVersion(9, "1.941.0", 0, "x")).passed
    assert check_firmware("s", FirmwareLevel("56", "FW860.10")).passed
    assert not check_firmware("s", FirmwareLevel("45", "FW840.40")).passed
    assert check_vios("vios1", IosLevel("2.2.5.10")).passed
    assert not check_vios("vios1", IosLevel("2.2.4.23")).passed
    assert not check_vios("vios1", None, "unreachable").passed
    items = check_adapters([SriovAdapter(1, "U1", "sriov", 1, 4, 1, 48), SriovAdapter(0, "U2", "dedicated", 1, 4, 0, 0)])
    assert [i.passed for i in items] == [True, False] and "shared mode" in items[1].remedy


def test_lpm_labels():
    src = [SriovPhysPort(1, 1, "U1-T2", "prod", "a", 1), SriovPhysPort(3, 1, "U3-T2", "prod", "b", 1),
           SriovPhysPort(2, 1, "U2-T2", "", "", 1)]
    tgt = [SriovPhysPort(1, 1, "V1-T2", "prod", "a", 1), SriovPhysPort(3, 1, "V3-T2", "prod", "c", 1)]
    b2 = BackingDevice("vios1", 1, 2, 1, "2702400c", "2.0", "2.0", 30)
    checks = check_labels([_vnic([A, B, b2])], src, tgt)
    assert [c.status for c in checks] == ["aligned", "sublabel-differs", "no-label"]
    # two backing devices need two target ports carrying the label
    a2 = BackingDevice("vios2", 2, 1, 1, "27018001", "2.0", "2.0", 20)
    checks = check_labels([_vnic([A]), _vnic([a2])], src, tgt)
    assert [c.status for c in checks] == ["not-enough-ports", "not-enough-ports"]
