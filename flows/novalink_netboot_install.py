"""Flow novalink-netboot-install: prepare the install server, network-boot the partition through the HMC
(``lpar_netboot``), follow the install through named milestones, then the post-install over SSH.

Milestones (from the boot server's log, the HTTP access log and the console where available): bootp
answered, boot file sent, grub.cfg read, kernel fetched, initrd fetched, installer started, installer config
fetched. A fatal sign (firmware exception, GRUB error, HTTP 404 on the kernel) fails at once; a deadline
fails with the last milestone reached and the log lines that concern the partition. The timeline is
published as an artifact either way.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from blocks.hmc import HmcConsole
from blocks.novalink import NovaLinkInstallServer
from core.novalink.errors import InstallMilestoneFailed
from core.novalink.milestones import ORDER, Milestone
from core.novalink.model import NovaLinkPartition
from flows.novalink_post_install import NovaLinkPostInstallParams, PostInstallParams, novalink_post_install
from flows.prepare_novalink_install import PrepareNovaLinkParams, prepare_novalink_install
from tasks.novalink import follow_install, read_log_offsets, trigger_netboot

GOALS = {m.name.lower(): m for m in ORDER}


class NovaLinkNetbootParams(BaseModel):
    prepare: PrepareNovaLinkParams = Field(description="What prepare-novalink-install does first.")
    hmc: str | None = Field(default=None, description="Name of the HMC console block that runs lpar_netboot; "
                            "empty: the partitions are booted by someone else, the flow only follows.")
    goal: str = Field(default="config_fetched", description="Milestone that ends the follow: "
                      + ", ".join(GOALS))
    deadline_s: float = Field(default=900.0, gt=0, description="Seconds allowed from the trigger to the goal.")
    post_install: PostInstallParams | None = Field(default=None, description="Post-install over SSH, once "
                                                   "the installed NovaLink answers (optional).")


def _timeline_rows(name: str, timeline: list[tuple[str, float | None]], t_trigger: float) -> list[dict[str, str]]:
    return [{"partition": name, "milestone": m, "seconds after trigger": "" if t is None else f"{t:.0f}",
             "reached": "yes" if t is not None else "no"} for m, t in timeline]


@flow(name="novalink-netboot-install")
def novalink_netboot_install(params: NovaLinkNetbootParams) -> dict[str, object]:
    log = get_run_logger()
    goal = GOALS.get(params.goal)
    if goal is None:
        raise ValueError(f"unknown goal {params.goal!r}; one of {', '.join(GOALS)}")
    prepared = prepare_novalink_install(params.prepare)
    server = NovaLinkInstallServer.load(params.prepare.install_server)
    media = params.prepare.media
    hmc = HmcConsole.load(params.hmc) if params.hmc else None

    rows: list[dict[str, str]] = []
    failures: list[str] = []
    timelines: dict[str, list[tuple[str, float | None]]] = {}
    for p in params.prepare.partitions:
        offsets = read_log_offsets(server, p.partition_name)
        t0 = time.monotonic()
        if hmc is not None:
            trigger_netboot(hmc, p, server.server_ip)
        else:
            log.info("no HMC given: waiting for %s to be network-booted by someone else", p.partition_name)
        try:
            timeline = follow_install(server, media, p, offsets, goal=goal, deadline_s=params.deadline_s)
        except InstallMilestoneFailed as exc:
            timeline = [(m.value, t) for m, t in (exc.timeline or [])]
            failures.append(f"{p.partition_name}: {exc}")
        timelines[p.partition_name] = timeline
        rows += _timeline_rows(p.partition_name, timeline, t0)
    create_table_artifact(key="novalink-install-timeline", table=rows,
                          description=f"network install milestones (goal: {goal.value})")
    if failures:
        create_markdown_artifact(key="novalink-install-failure",
                                 markdown="# NovaLink network install failed\n\n```\n" + "\n\n".join(failures)
                                 + "\n```\n")
        raise InstallMilestoneFailed("\n\n".join(failures))

    post: dict[str, object] = {}
    if params.post_install is not None:
        post = _post_install(params.post_install, params.prepare.partitions)
    return {"prepared": prepared, "timelines": timelines, "post_install": post}


def _post_install(pp: PostInstallParams, partitions: list[NovaLinkPartition]) -> dict[str, object]:
    return dict(novalink_post_install(NovaLinkPostInstallParams(partitions=partitions, post_install=pp)))


__all__ = ["NovaLinkNetbootParams", "PostInstallParams", "novalink_netboot_install", "Milestone"]
