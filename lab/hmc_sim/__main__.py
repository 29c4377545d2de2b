"""``python -m lab.hmc_sim serve|hypervisor ...`` (started by the lab component, see lab/hmc_sim/__init__)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m lab.hmc_sim")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run one simulated HMC/VIOS/LPAR SSH server")
    s.add_argument("--role", choices=["hmc", "vios", "lpar"], required=True)
    s.add_argument("--node", required=True)
    s.add_argument("--ip", required=True)
    s.add_argument("--port", type=int, default=22)
    s.add_argument("--state", type=Path, required=True, help="the simulator's state dir (<lab state>/hmc)")
    s.add_argument("--host-key", type=Path, required=True)
    s.add_argument("--authorized", type=Path, required=True)
    h = sub.add_parser("hypervisor", help="run the simulated hypervisor (timed rules, links)")
    h.add_argument("--state", type=Path, required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.cmd == "serve":
        from lab.hmc_sim.server import serve

        serve(args.role, args.node, args.ip, args.port, args.state, args.host_key, args.authorized)
    else:
        from lab.hmc_sim.hypervisor import run

        run(args.state)


if __name__ == "__main__":
    main()
