"""Thin tasks for remote hosts over SSH: run one command, read or write one file."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.ssh import SshTarget
from seams.ssh import CommandResult


@task(cache_policy=NO_CACHE, task_run_name="run on {target.host}: {argv[0]}")
def run_command(target: SshTarget, argv: Sequence[str], timeout: float = 3600, check: bool = True) -> CommandResult:
    return target.connect().run(list(argv), timeout=timeout, check=check)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, task_run_name="read {path} on {target.host}")
def read_remote_file(target: SshTarget, path: str) -> bytes | None:
    return target.connect().read_file(path)


@task(cache_policy=NO_CACHE, task_run_name="write {path} on {target.host}")
def write_remote_file(target: SshTarget, path: str, data: bytes, mode: int = 0o644) -> bool:
    """Idempotent: identical content is not rewritten. Returns whether the file changed."""
    return target.connect().write_file(path, data, mode)
