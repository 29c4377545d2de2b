"""``python -m deployments``: (re)write prefect.yaml from the registry; ``--check`` fails if it differs."""

from __future__ import annotations

import sys

from deployments.registry import REPO
from deployments.render import render_prefect_yaml


def main(argv: list[str]) -> int:
    text = render_prefect_yaml()
    path = REPO / "prefect.yaml"
    if "--check" in argv:
        if not path.exists() or path.read_text() != text:
            print("prefect.yaml is not in sync with deployments/registry.py: run python -m deployments")
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
