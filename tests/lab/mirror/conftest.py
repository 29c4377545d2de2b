"""Lab fixtures of the mirror area: the lab component up once, its blocks saved, per-test upstreams."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import lab.mirror as mirror_lab
from lab.context import LabContext
from lab.mirror.upstream import AptUpstream, build_apt_upstream, ensure_key


@pytest.fixture(scope="session")
def lab_ctx() -> LabContext:
    return LabContext()


@pytest.fixture(scope="session")
def mirror_env(prefect_server: str, lab_ctx: LabContext) -> LabContext:
    mirror_lab.up(lab_ctx)
    mirror_lab.register_blocks(lab_ctx)
    return lab_ctx


@dataclass
class Upstream:
    repo: AptUpstream
    url: str
    keyring_block: str
    name: str  # unique mirror name for the test


@pytest.fixture
def apt_upstream(mirror_env: LabContext) -> Iterator[Upstream]:
    """A fresh signed apt repository on the loopback nginx, and a unique mirror name; removed afterwards."""
    tag = f"t{uuid.uuid4().hex[:8]}"
    root = mirror_lab.upstream_dir(mirror_env) / tag
    repo = build_apt_upstream(root, mirror_lab.key_dir(mirror_env), packages=6)
    yield Upstream(repo, f"{mirror_lab.UPSTREAM_URL}/{tag}", "lab-mirror-upstream", tag)
    shutil.rmtree(root, ignore_errors=True)
    for d in (mirror_lab.area_dir(mirror_env) / "local" / tag, mirror_lab.area_dir(mirror_env) / "cache" / tag,
              mirror_lab.srv_dir(mirror_env) / tag):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def local_root(mirror_env: LabContext) -> Path:
    d = mirror_lab.area_dir(mirror_env) / "local"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session")
def rogue_key(mirror_env: LabContext):  # type: ignore[no-untyped-def]
    return ensure_key(mirror_lab.area_dir(mirror_env) / "rogue-key", "rogue signer")


def run_flow_with_artifacts(flow_obj: Any, params: Any) -> tuple[Any, dict[str, Any]]:
    """Run a mirror flow; return its result and the artifacts *its own run* published, by key. The mirror
    flows are async: a Prefect artifact call there that is not forced sync returns a coroutine and publishes
    nothing, so the tests check the artifacts arrived. Artifacts without a key (progress bars) are keyed by
    "type: description"."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows._sync import call_flow

    state = call_flow(flow_obj, params, return_state=True)
    result = state.result()
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    # artifacts without a key (progress bars) by "type: description"
    return result, {a.key or f"{a.type}: {a.description}": a for a in arts}
