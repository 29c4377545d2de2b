"""``powerops``: the lab (up/down/status/blocks), the local Prefect server, and the demo.

    powerops demo                 lab up, Prefect server up, the demo flows run, the UI address printed
    powerops lab up|down|status   the lab's hosts and simulators (idempotent up; down removes all it made)
    powerops lab blocks           (re)write the lab's block documents to the Prefect API
    powerops server up|down       the local Prefect server (state under the lab dir)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from types import ModuleType

# The client must talk to the lab's server, not an ephemeral one: Prefect reads this when it is imported.
SERVER_PORT = int(os.environ.get("POWEROPS_PREFECT_PORT", "4200"))
os.environ.setdefault("PREFECT_API_URL", f"http://127.0.0.1:{SERVER_PORT}/api")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from lab.context import LabContext  # noqa: E402

# Lab components (modules with up/down/status/register_blocks) come from the demo's areas, in order.


def _modules(names: list[str]) -> list[ModuleType]:
    return [importlib.import_module(n) for n in names]


def _say(msg: str) -> None:
    print(f"[powerops] {msg}", flush=True)


def server_home(lab: LabContext) -> str:
    return str(lab.state_dir / "prefect")


def server_up(lab: LabContext) -> str:
    from lab import prefect_server as ps

    t0 = time.monotonic()
    info = ps.start(server_home(lab), port=SERVER_PORT)
    os.environ["PREFECT_API_URL"] = info.api_url
    _say(f"Prefect server healthy at {info.api_url} (database: {ps.database_choice()}; {time.monotonic() - t0:.1f}s)")
    return info.api_url


def register_block_types() -> None:
    from blocks import ALL_BLOCKS

    for b in ALL_BLOCKS:
        b.register_type_and_schema()


def lab_up(lab: LabContext, components: list[str]) -> None:
    for mod in _modules(components):
        t0 = time.monotonic()
        _say(f"{mod.__name__}: up ...")
        mod.up(lab)
        _say(f"{mod.__name__}: up in {time.monotonic() - t0:.1f}s")


def lab_blocks(lab: LabContext, components: list[str]) -> list[str]:
    register_block_types()
    names: list[str] = []
    for mod in _modules(components):
        names += mod.register_blocks(lab)
    return names


def lab_down(lab: LabContext, components: list[str]) -> None:
    for mod in reversed(_modules(components)):
        t0 = time.monotonic()
        mod.down(lab)
        _say(f"{mod.__name__}: down in {time.monotonic() - t0:.1f}s")
    from lab import netns

    if not netns.list_namespaces():
        netns.remove_bridge()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="powerops", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lab_p = sub.add_parser("lab")
    lab_p.add_argument("action", choices=["up", "down", "status", "blocks"])
    lab_p.add_argument("--only", default=None, help="comma-separated areas (default: all), e.g. foundation,hmc")
    lab_p.add_argument("--purge", action="store_true", help="with down: also remove keys and download caches")
    srv = sub.add_parser("server")
    srv.add_argument("action", choices=["up", "down"])
    demo = sub.add_parser("demo")
    demo.add_argument("--only", default=None, help="comma-separated areas (default: all), e.g. foundation,hmc")
    args = ap.parse_args(argv)

    if os.geteuid() != 0 and args.cmd in ("lab", "demo"):
        print("powerops lab needs root (network namespaces, dockerd)", file=sys.stderr)
        return 2
    from lab.demo import AREAS, components_of

    only = args.only.split(",") if getattr(args, "only", None) else None
    unknown = sorted(set(only or []) - {a.name for a in AREAS})
    if unknown:
        print(f"unknown area(s) {', '.join(unknown)}; known: {', '.join(a.name for a in AREAS)}", file=sys.stderr)
        return 2
    lab = LabContext()
    components = components_of(only)
    if args.cmd == "server":
        if args.action == "up":
            server_up(lab)
        else:
            from lab import prefect_server as ps

            _say("Prefect server stopped" if ps.stop(server_home(lab)) else "no Prefect server was running")
        return 0
    if args.cmd == "lab":
        if args.action == "up":
            lab_up(lab, components)
        elif args.action == "down":
            lab_down(lab, components)
            from lab import prefect_server as ps

            if only is None:
                ps.stop(server_home(lab))
            if args.purge:
                import shutil

                shutil.rmtree(lab.state_dir, ignore_errors=True)
                shutil.rmtree(lab.run_dir, ignore_errors=True)
                shutil.rmtree("/var/cache/powerops", ignore_errors=True)
                _say(f"purged {lab.state_dir}, {lab.run_dir} and /var/cache/powerops")
        elif args.action == "status":
            for mod in _modules(components):
                for line in mod.status(lab):
                    print(line)
        else:
            server_up(lab)
            for n in lab_blocks(lab, components):
                print(n)
        return 0
    if args.cmd == "demo":
        from lab import demo as demo_mod

        return demo_mod.run(lab, only)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
