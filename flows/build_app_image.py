"""Flow build-app-image: a Dockerfile build on a target host (seed: the httpd image FROM the base image).

Hosts at an offline site cannot ``apt-get install`` inside a build: packages are fetched beforehand on the
build host (``apt-get download``) and installed from the context with ``dpkg -i``. Bundled recipe: ``whoami``
(busybox httpd + a CGI printing hostname, IP, uname, date), the swarm demo service.
"""

from __future__ import annotations

import hashlib
import json
import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from blocks.docker_host import DockerHost
from blocks.registry import RegistryTarget
from blocks.ssh import SshTarget
from core.errors import InvalidInput
from core.names import parse_image_ref
from core.render import TEMPLATES, render, render_string
from tasks.docker import build_app_image
from tasks.image import find_image
from tasks.packages import download_debs
from tasks.registry import push_image

RECIPES: dict[str, dict[str, object]] = {
    "whoami": {
        "dockerfile": "images/whoami.Dockerfile.j2",
        "files": {"index.cgi": "images/whoami.cgi", "httpd.conf": "images/whoami.httpd.conf"},
        "modes": {"index.cgi": 0o755},
        "debs": ["busybox"],
    },
}


class AppImageParams(BaseModel):
    """An application image: a bundled recipe or your own Dockerfile, built FROM a base image."""

    app: str | None = Field(default=None, description=f"Bundled recipe: {', '.join(RECIPES)}.")
    dockerfile: str | None = Field(default=None, description="Your own Dockerfile (jinja2: {{ base_image }}).")
    files: dict[str, str] = Field(default_factory=dict, description="Extra text files for the build context.")
    debs: list[str] = Field(default_factory=list, description="Packages downloaded on the build host into debs/.")
    base_image: str = Field(description="Base image tag the Dockerfile builds FROM.")
    build_host: str | None = Field(default=None, description="SSH target block name where packages are fetched.")
    target_host: str = Field(description="Docker host block name to build on.")
    tag: str = Field(description="Tag of the resulting image.")
    push_to: str | None = Field(default=None, description="Registry block name to push to (optional).")


@flow(name="build-app-image")
def build_app_image_flow(params: AppImageParams) -> dict[str, object]:
    logger = get_run_logger()
    t0 = time.monotonic()
    parse_image_ref(params.tag)
    host = DockerHost.load(params.target_host)
    modes: dict[str, int] = {}
    files: dict[str, bytes] = {k: v.encode() for k, v in params.files.items()}
    debs = list(params.debs)
    if params.app:
        recipe = RECIPES.get(params.app)
        if recipe is None:
            raise InvalidInput(f"unknown app recipe {params.app!r}; known: {', '.join(RECIPES)}")
        dockerfile = render(str(recipe["dockerfile"]), base_image=params.base_image)
        for name, tpl in dict(recipe["files"]).items():  # type: ignore[call-overload]
            files[name] = (TEMPLATES / tpl).read_bytes()
        modes.update(dict(recipe["modes"]))  # type: ignore[call-overload]
        debs += list(recipe["debs"])  # type: ignore[call-overload]
    elif params.dockerfile:
        dockerfile = render_string(params.dockerfile, base_image=params.base_image)
    else:
        raise InvalidInput("give either app (a bundled recipe) or dockerfile")

    base = find_image(host, params.base_image)
    if base is None:
        raise InvalidInput(f"{host.name}: base image {params.base_image} is not there; run build-base-image first")
    recipe_hash = hashlib.sha256(json.dumps({
        "dockerfile": dockerfile, "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
        "debs": sorted(debs), "base": base["id"], "modes": modes}, sort_keys=True).encode()).hexdigest()[:24]
    existing = find_image(host, params.tag)
    if existing and existing["labels"].get("org.powerops.recipe") == recipe_hash:
        logger.info("%s on %s is current (recipe %s): not rebuilt", params.tag, host.name, recipe_hash)
        image_id, action = str(existing["id"]), "unchanged (cached)"
    else:
        if debs:
            if not params.build_host:
                raise InvalidInput("packages must be fetched: give build_host")
            for name, data in download_debs(SshTarget.load(params.build_host), debs).items():
                files[f"debs/{name}"] = data
        image_id = build_app_image(host, params.tag, dockerfile, files, modes, {"org.powerops.recipe": recipe_hash})
        action = "built"
    pushed = push_image(host, params.tag, RegistryTarget.load(params.push_to)) if params.push_to else None
    summary = {"tag": params.tag, "image_id": image_id, "action": action, "pushed": pushed,
               "host": host.name, "seconds": round(time.monotonic() - t0, 1)}
    create_markdown_artifact(key="build-app-image", description=f"build-app-image {params.tag}: {action}",
                             markdown="\n".join([f"## App image `{params.tag}`", "", "| what | value |", "|---|---|",
                                                 *[f"| {k} | {v} |" for k, v in summary.items()]]))
    return summary
