"""``python -m lab.netboot.bootp_probe MAC [TIMEOUT]``: send one BOOTREQUEST (broadcast), print the reply as JSON.

Run inside a lab namespace (lab.netboot.bootpd.probe); retries every 2 s like a firmware until the timeout.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time

from core.novalink.bootp import build_request, parse_reply


def main(mac: str, timeout: float) -> int:
    xid = random.getrandbits(32)  # noqa: S311 (a transaction id, not a secret)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")  # no route yet: limited broadcast
    s.bind(("0.0.0.0", 68))  # noqa: S104 (a BOOTP client has no address yet)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.sendto(build_request(mac, xid), ("255.255.255.255", 67))
        s.settimeout(2.0)
        try:
            while True:
                data, peer = s.recvfrom(2048)
                try:
                    if parse_reply(data).xid == xid:
                        print(json.dumps({"from": peer[0], "reply": data.hex()}))
                        return 0
                except ValueError:
                    continue
        except TimeoutError:
            continue
    print(f"no BOOTP reply for {mac} within {timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 20.0))
