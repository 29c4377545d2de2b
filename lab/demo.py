"""The out-of-the-box demo: the same flows a site runs, against the lab's inventory of blocks."""

from __future__ import annotations

import os
import secrets as pysecrets
import time

from lab.context import LabContext

BASE_TAG = "powerops/debian:bookworm"


def ensure_demo_secret(lab: LabContext) -> str:
    """The registry password lives in a Prefect Secret block; flows get its NAME, never the value."""
    from prefect.blocks.system import Secret

    path = lab.state_dir / "registry-password"
    if not path.exists():
        path.write_text(pysecrets.token_urlsafe(18))
        path.chmod(0o600)
    Secret(value=path.read_text().strip()).save("lab-registry-password", overwrite=True)
    return "lab-registry-password"


def run_foundation(lab: LabContext) -> dict[str, object]:
    from flows.build_app_image import AppImageParams, build_app_image_flow
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.stand_up_registry import RegistryParams, stand_up_registry

    secret = ensure_demo_secret(lab)
    base = build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock1", tag=BASE_TAG))
    registry = stand_up_registry(RegistryParams(
        registry_host="lab-dock1", password_secret=secret, base_image=BASE_TAG,
        trust_hosts=["lab-dock2", "lab-dock3"], save_block_as="lab-registry"))
    whoami = build_app_image_flow(AppImageParams(
        app="whoami", base_image=BASE_TAG, build_host="lab-build", target_host="lab-dock1",
        tag="powerops/whoami:1", push_to="lab-registry"))
    return {"base": base, "registry": registry, "whoami": whoami}


def run(lab: LabContext, components: list[str]) -> int:
    from lab.cli import _say, lab_blocks, lab_up, server_up

    t0 = time.monotonic()
    api = server_up(lab)
    os.environ["PREFECT_API_URL"] = api
    lab_up(lab, components)
    lab_blocks(lab, components)
    out = run_foundation(lab)
    _say(f"base image: {out['base']['action']} {out['base']['tag']} ({out['base']['seconds']}s)")  # type: ignore[index]
    reg = out["registry"]
    _say(f"registry: {reg['address']} catalog={reg['catalog']} ({reg['seconds']}s)")  # type: ignore[index]
    _say(f"whoami image: {out['whoami']['pushed']}")  # type: ignore[index]
    ui = api.removesuffix("/api")
    _say(f"demo done in {time.monotonic() - t0:.0f}s. Prefect UI: {ui}  (runs: {ui}/runs)")
    _say("stop everything with: powerops lab down")
    return 0
