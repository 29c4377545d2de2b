"""BOOTP packets (pure): the request a firmware sends, a reply recorded from the lab's bootpd 2.4.3."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.novalink.bootp import MAGIC, build_request, parse_reply

# bootpd 2.4.3 answering the blog's entry shape
# nova0696011:bf=/var/lib/tftpboot/core.elf:ip=10.250.77.82:ht=ethernet:ha=5254004E4C82:sa=10.250.77.70:
#   gw=10.250.77.1:sm=255.255.255.0:
RECORDED_REPLY = bytes.fromhex(
    "02010600b384666000008000000000000afa4d520afa4d46000000005254004e4c8200000000000000000000766d2e706f77"
    "65726f70732e7465737400000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000002f7661722f6c69622f74667470626f6f742f636f72652e656c6600000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000638253630104ffffff0003040afa"
    "4d01ff0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000")


def test_request_is_what_a_firmware_sends():
    req = build_request("52:54:00:4E:4C:82", 0xB3846660)
    assert len(req) == 300  # 236 fixed + 64 vendor bytes (RFC 951)
    assert req[:4] == bytes([1, 1, 6, 0])  # BOOTREQUEST, Ethernet, 6-byte address
    assert req[4:8] == bytes.fromhex("b3846660")
    assert req[10:12] == bytes.fromhex("8000")  # broadcast flag: the client has no address yet
    assert req[12:28] == b"\0" * 16  # ciaddr, yiaddr, siaddr, giaddr
    assert req[28:34] == bytes.fromhex("5254004e4c82")
    assert req[236:240] == MAGIC
    with pytest.raises(InvalidInput):
        build_request("01:00:5e:00:00:01", 1)  # multicast is no NIC's address


def test_parse_recorded_reply():
    r = parse_reply(RECORDED_REPLY)
    assert (r.xid, r.chaddr, r.yiaddr, r.siaddr, r.giaddr) == (
        0xB3846660, "52:54:00:4e:4c:82", "10.250.77.82", "10.250.77.70", "0.0.0.0")
    assert r.file == "/var/lib/tftpboot/core.elf"
    assert r.sname == "vm.powerops.test"
    assert r.subnet_mask == "255.255.255.0" and r.routers == ["10.250.77.1"] and r.hostname is None


def test_parse_refuses_requests_and_runts():
    with pytest.raises(InvalidInput, match="BOOTREPLY"):
        parse_reply(build_request("52:54:00:4e:4c:82", 7))
    with pytest.raises(InvalidInput, match="too short"):
        parse_reply(RECORDED_REPLY[:100])
