"""Flow ``configure-mirror-clients``: point hosts at the mirrors (apt sources + keyring, yum .repo, pip.conf)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field

from core.mirror.clients import ClientFile, apt_files, pip_files, under_root, yum_files
from core.mirror.signed import dearmor
from tasks.mirror import install_client_files


class AptClient(BaseModel):
    name: str = Field(description="Mirror name (URL path /<name>/ on the mirror host).")
    suites: list[str] = Field(description="Suites to enable.")
    components: list[str] = Field(default=["main"], description="Components to enable.")
    architectures: list[str] = Field(default=["ppc64el"], description="Architectures (arch= option).")
    keyring_block: str = Field(description="powerops-mirror-keyring block: the keys apt checks (signed-by).")
    sources: bool = Field(default=False, description="Also a deb-src line (for a mirror made with sources).")


class YumClient(BaseModel):
    name: str = Field(description="Mirror name (URL path /<name>/ on the mirror host).")
    keyring_block: str = Field(default="", description="powerops-mirror-keyring block with the RPM signing key "
                                                       "(empty: gpgcheck=0).")


class PipClient(BaseModel):
    name: str = Field(description="Wheelhouse name (URL path /<name>/ on the mirror host).")
    conf_path: str = Field(default="/etc/pip.conf", description="Where pip.conf is written.")


class ConfigureMirrorClientsParams(BaseModel):
    targets: list[str] = Field(description="powerops-ssh-target blocks of the client hosts.")
    mirror_host_block: str = Field(description="powerops-mirror-host block (gives the mirrors' base URL).")
    apt: list[AptClient] = Field(default_factory=list, description="apt mirrors to configure.")
    yum: list[YumClient] = Field(default_factory=list, description="yum mirrors to configure.")
    pip: PipClient | None = Field(default=None, description="Wheelhouse to point pip at.")
    root: str = Field(default="/", description="Install below this directory (a chroot or image tree).")
    dry_run: bool = Field(default=False, description="Show the files only; change nothing.")


def _key(block: str) -> bytes | None:
    if not block:
        return None
    from blocks.mirror import MirrorKeyring

    return MirrorKeyring.load(block).keyring_bytes()


@flow(name="configure-mirror-clients")
def configure_mirror_clients(params: ConfigureMirrorClientsParams) -> dict[str, Any]:
    from blocks.mirror import MirrorHost

    host = MirrorHost.load(params.mirror_host_block)
    files: list[ClientFile] = []
    for a in params.apt:
        key = _key(a.keyring_block)
        files += apt_files(a.name, host.mirror_url(a.name), a.suites, a.components, a.architectures,
                           dearmor(key) if key else None, a.sources)
    for y in params.yum:
        files += yum_files(y.name, host.mirror_url(y.name), _key(y.keyring_block))
    if params.pip:
        files += pip_files(params.pip.name, host.mirror_url(params.pip.name) + "simple/", params.pip.conf_path)
    files = under_root(files, params.root)
    rows = [{"target": t, "file": f.path, "bytes": str(len(f.content))} for t in params.targets for f in files]
    if params.dry_run:
        create_table_artifact(table=rows, key="mirror-clients-plan", description="client files (dry run)")
        return {"dry_run": True, "files": [f.path for f in files]}
    changed = {t: install_client_files(t, files) for t in params.targets}
    for r in rows:
        r["changed"] = "yes" if r["file"] in changed[r["target"]] else "no (identical)"
    create_table_artifact(table=rows, key="mirror-clients", description="client files installed")
    return {"changed": changed}
