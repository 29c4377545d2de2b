"""Flow ``serve-mirrors``: the mirror host's nginx serves every mirror at /<name>/ from <root>/<name>/current/.

Render the site (pure) -> write it over SSH (unchanged: nothing else happens) -> ``nginx -t`` (a refused
configuration is rolled back) -> reload.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from core.errors import InvalidInput, PowerOpsError
from core.mirror.clients import ClientFile
from core.mirror.web import render_nginx_site
from tasks.mirror import install_client_files, read_remote_file, reload_web_server, validate_web_config


class ServeMirrorsParams(BaseModel):
    mirror_host_block: str = Field(description="powerops-mirror-host block of the mirror host.")
    dry_run: bool = Field(default=False, description="Show the configuration only.")


@flow(name="serve-mirrors")
def serve_mirrors(params: ServeMirrorsParams) -> dict[str, Any]:
    from blocks.mirror import MirrorHost

    log = get_run_logger()
    host = MirrorHost.load(params.mirror_host_block)
    if not host.ssh_target:
        raise InvalidInput(f"mirror host {params.mirror_host_block} has no SSH target: nothing to configure")
    site = render_nginx_site(host.root, host.listen).encode()
    create_markdown_artifact(markdown=f"# nginx site for {host.base_url}\n\n```nginx\n{site.decode()}```\n",
                             key="mirror-web-config", description="mirror host web server site")
    if params.dry_run:
        return {"dry_run": True, "path": host.web_conf_path}
    previous = read_remote_file(host.ssh_target, host.web_conf_path)
    changed = install_client_files(host.ssh_target, [ClientFile(host.web_conf_path, site)])
    if not changed:
        log.info("%s: web configuration already up to date", host.base_url)
        return {"changed": False, "path": host.web_conf_path}
    try:
        validate_web_config(host.ssh_target, host.web_test_command)
    except PowerOpsError:
        restore = [ClientFile(host.web_conf_path, previous)] if previous is not None else []
        if restore:
            install_client_files(host.ssh_target, restore)
        log.error("%s: the web server refused the new site; the previous one was restored", host.base_url)
        raise
    reload_web_server(host.ssh_target, host.web_reload_command)
    return {"changed": True, "path": host.web_conf_path, "url": host.base_url}
