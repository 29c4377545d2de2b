"""Render prefect.yaml from the registry (pure text; no flow module is imported)."""

from __future__ import annotations

from typing import Any

import yaml

from deployments.registry import WORK_POOL, Procedure, procedures

HEADER = """\
# prefect.yaml: every powerops deployment (generated from deployments/registry.py by `python -m deployments`;
# edit the registry, not this file). Deploy them all with:
#
#   export POWEROPS_REPO=$PWD            # the checkout the worker runs flows from (pull step)
#   prefect work-pool create powerops --type process   # once
#   prefect --no-prompt deploy --all
#   prefect worker start --pool powerops
#
# Each deployment runs the wrapper flow ops-<name> (deployments/ops_flows.py): secret redaction, approval
# (when the procedure's rule asks), per-target locks, the flow itself as a sub-run, and a run summary.
# Schedules: `active` is the documented default (docs/ticketing.md, "Schedules").
"""


def deployment_dict(p: Procedure) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": p.name,
        "description": p.description,
        "entrypoint": p.entrypoint,
        "tags": ["powerops", *p.tags],
        "work_pool": {"name": WORK_POOL},
        "enforce_parameter_schema": True,
    }
    if p.parameters:
        d["parameters"] = p.parameters
    if p.schedules:
        d["schedules"] = [{"cron": s.cron, "timezone": s.timezone, "active": s.active, "slug": f"{p.name}-{i}",
                           **({"parameters": {"params": s.parameters}} if s.parameters else {})}
                          for i, s in enumerate(p.schedules)]
    return d


def render_prefect_yaml(procs: tuple[Procedure, ...] | None = None) -> str:
    procs = procs if procs is not None else tuple(procedures().values())
    doc = {
        "name": "powerops",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $POWEROPS_REPO }}"}}],
        "deployments": [deployment_dict(p) for p in procs],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=110)
