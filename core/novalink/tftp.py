"""TFTP (RFC 1350, with the blksize option of RFC 2348) packets, pure: used to fetch the boot file and
grub.cfg from the install server exactly as the partition's firmware and GRUB do."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from core.errors import InvalidInput

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6


def rrq(filename: str, blksize: int | None = None) -> bytes:
    if not filename or "\x00" in filename:
        raise InvalidInput(f"invalid TFTP file name {filename!r}")
    pkt = struct.pack("!H", RRQ) + filename.encode() + b"\x00octet\x00"
    if blksize:
        pkt += b"blksize\x00" + str(blksize).encode() + b"\x00"
    return pkt


def ack(block: int) -> bytes:
    return struct.pack("!HH", ACK, block & 0xFFFF)


@dataclass(frozen=True)
class Packet:
    opcode: int
    block: int = 0
    data: bytes = b""
    error_code: int = 0
    message: str = ""
    options: tuple[tuple[str, str], ...] = ()


def parse(pkt: bytes) -> Packet:
    if len(pkt) < 2:
        raise InvalidInput("TFTP packet too short")
    (op,) = struct.unpack("!H", pkt[:2])
    if op == DATA and len(pkt) >= 4:
        (block,) = struct.unpack("!H", pkt[2:4])
        return Packet(DATA, block=block, data=pkt[4:])
    if op == ERROR and len(pkt) >= 4:
        (code,) = struct.unpack("!H", pkt[2:4])
        return Packet(ERROR, error_code=code, message=pkt[4:].split(b"\x00", 1)[0].decode(errors="replace"))
    if op == OACK:
        items = pkt[2:].split(b"\x00")
        pairs = tuple((items[i].decode().lower(), items[i + 1].decode())
                      for i in range(0, len(items) - 1, 2) if items[i])
        return Packet(OACK, options=pairs)
    if op == ACK and len(pkt) >= 4:
        return Packet(ACK, block=struct.unpack("!H", pkt[2:4])[0])
    raise InvalidInput(f"unexpected TFTP packet (opcode {op})")
