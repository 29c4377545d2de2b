"""BOOTP (RFC 951 / RFC 1497 vendor extensions) packets, pure: the request a firmware sends, the reply parsed.

Used to prove a rendered ``/etc/bootptab`` entry by a real exchange with bootpd, as SLOF/PowerVM firmware
would do it: BOOTREQUEST with the partition's MAC in ``chaddr``, no client address, broadcast flag set.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from core.errors import InvalidInput
from core.novalink.model import normalize_mac

MAGIC = bytes([99, 130, 83, 99])
_FMT = "!BBBBIHH4s4s4s4s16s64s128s"
_FIXED = struct.calcsize(_FMT)  # 236


@dataclass(frozen=True)
class BootpReply:
    xid: int
    chaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    sname: str
    file: str
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def subnet_mask(self) -> str | None:
        v = self.options.get(1)
        return str(ipaddress.IPv4Address(v[:4])) if v and len(v) >= 4 else None

    @property
    def routers(self) -> list[str]:
        v = self.options.get(3, b"")
        return [str(ipaddress.IPv4Address(v[i:i + 4])) for i in range(0, len(v) - len(v) % 4, 4)]

    @property
    def hostname(self) -> str | None:
        v = self.options.get(12)
        return v.decode(errors="replace") if v else None


def build_request(mac: str, xid: int, broadcast: bool = True) -> bytes:
    hw = bytes.fromhex(normalize_mac(mac).replace(":", ""))
    zero = b"\0" * 4
    fixed = struct.pack(_FMT, 1, 1, 6, 0, xid & 0xFFFFFFFF, 0, 0x8000 if broadcast else 0, zero, zero, zero,
                        zero, hw.ljust(16, b"\0"), b"\0" * 64, b"\0" * 128)
    return fixed + (MAGIC + bytes([255])).ljust(64, b"\0")


def parse_reply(data: bytes) -> BootpReply:
    if len(data) < _FIXED:
        raise InvalidInput(f"BOOTP packet too short ({len(data)} bytes)")
    op, htype, hlen, _hops, xid, _secs, _flags, _ci, yi, si, gi, ch, sname, file = struct.unpack(_FMT, data[:_FIXED])
    if op != 2 or htype != 1 or hlen != 6:
        raise InvalidInput(f"not an Ethernet BOOTREPLY (op {op}, htype {htype}, hlen {hlen})")
    options: dict[int, bytes] = {}
    vend = data[_FIXED:]
    if vend[:4] == MAGIC:
        i = 4
        while i < len(vend):
            code = vend[i]
            if code == 255:
                break
            if code == 0:
                i += 1
                continue
            if i + 1 >= len(vend):
                break
            size = vend[i + 1]
            options[code] = vend[i + 2:i + 2 + size]
            i += 2 + size
    return BootpReply(
        xid=xid, chaddr=":".join(f"{b:02x}" for b in ch[:6]), yiaddr=str(ipaddress.IPv4Address(yi)),
        siaddr=str(ipaddress.IPv4Address(si)), giaddr=str(ipaddress.IPv4Address(gi)),
        sname=sname.split(b"\0", 1)[0].decode(errors="replace"),
        file=file.split(b"\0", 1)[0].decode(errors="replace"), options=options)
