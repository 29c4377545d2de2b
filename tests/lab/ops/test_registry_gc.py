"""registry-gc against the foundation lab's real registry (Debian's distribution in a container on lab-dock3):
push a few tags of small images, dry run (nothing changes), refusal without confirm, prune + garbage-collect,
then the kept tags pull, the deleted ones 404, and space was freed."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile

import pytest

from core.errors import ConfirmationRequired, DockerError

pytestmark = pytest.mark.lab

REPO = "gc-test/blob"
SOLO = "gc-test/solo"
BASE = "powerops/debian:bookworm-test"
REGISTRY_BLOCK = "ops-gc-registry"


def _context(tag: str, size: int = 1 << 20) -> io.BytesIO:
    """A FROM scratch build context with one file of random (incompressible) bytes: unique blobs per tag."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY blob /blob\nLABEL org.powerops.test=gc-" +
                            tag.encode() + b"\n"), ("blob", os.urandom(size))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def gc_registry(prefect_server):
    """The foundation lab's registry on lab-dock3 (stood up if needed: idempotent) and 5 pushed tags."""
    from prefect.blocks.system import Secret

    from blocks.docker_host import DockerHost
    from blocks.registry import RegistryTarget
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.stand_up_registry import RegistryParams, stand_up_registry
    from lab import docker_hosts
    from lab.cli import lab_blocks
    from lab.context import LabContext
    from tasks.registry import push_image
    from tests.lab.foundation.conftest import REGISTRY_PASSWORD

    lab = LabContext()
    docker_hosts.up(lab)
    lab_blocks(lab, ["lab.docker_hosts"])
    Secret(value=REGISTRY_PASSWORD).save("test-registry-password", overwrite=True)
    build_base_image(BaseImageParams(build_host="lab-build", target_host="lab-dock3", tag=BASE))
    stand_up_registry(RegistryParams(registry_host="lab-dock3", password_secret="test-registry-password",
                                     base_image=BASE, save_block_as=REGISTRY_BLOCK))
    host = DockerHost.load("lab-dock3")
    registry = RegistryTarget.load(REGISTRY_BLOCK)
    pushed = {}
    with host.client() as client:
        for tag in ("v1", "v2", "v3", "v4"):     # built one after the other: v4 is the newest
            client.images.build(fileobj=_context(tag), custom_context=True, tag=f"{REPO}:{tag}", rm=True)
        client.images.build(fileobj=_context("solo"), custom_context=True, tag=f"{SOLO}:only", rm=True)
    for ref in (*(f"{REPO}:{t}" for t in ("v1", "v2", "v3", "v4")), f"{SOLO}:only"):
        pushed[ref] = push_image.fn(host, ref, registry)
    yield {"host": host, "registry": registry, "pushed": pushed}
    with host.client() as client:
        for ref in pushed:
            for name in (ref, f"{registry.address}/{ref}"):
                with contextlib.suppress(Exception):   # already gone
                    client.images.remove(name, force=True)


def _head(registry, repo: str, tag: str) -> int:
    from core.registry_gc import MANIFEST_ACCEPT
    from seams.http import http_client

    with http_client(registry.ca_cert) as c:
        return c.head(f"https://{registry.address}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT},
                      auth=(registry.username, registry.password.get_secret_value())).status_code


def _params(**kw):
    from flows.registry_gc import RegistryGcParams

    base = {"registry_host": "lab-dock3", "registry": REGISTRY_BLOCK,
            "rules": [{"repositories": "gc-test/*", "keep": 2}], "protected_tags": ["latest", "stable-*"]}
    base.update(kw)
    return RegistryGcParams(**base)


def test_dry_run_plans_and_changes_nothing(gc_registry):
    from flows.registry_gc import registry_gc

    out = registry_gc(_params(dry_run=True))
    assert out["dry_run"] is True
    assert f"delete {REPO}:v1" in " ".join(out["planned"]) and f"delete {REPO}:v2" in " ".join(out["planned"])
    assert not any("v3" in p or "v4" in p or SOLO in p for p in out["planned"])
    assert out["tags_to_delete"] == 2 and out["estimated_bytes"] > 2 * (1 << 20)
    assert _head(gc_registry["registry"], REPO, "v1") == 200


def test_apply_without_confirm_is_refused(gc_registry):
    from flows.registry_gc import registry_gc

    with pytest.raises(ConfirmationRequired, match="confirm=True"):
        registry_gc(_params(dry_run=False))
    assert _head(gc_registry["registry"], REPO, "v1") == 200


def test_prune_and_garbage_collect_frees_space_and_keeps_the_newest(gc_registry):
    from flows.registry_gc import registry_gc
    from tasks.registry import pull_image

    host, registry = gc_registry["host"], gc_registry["registry"]
    out = registry_gc(_params(dry_run=False, confirm=True))
    assert sorted(out["applied"][:2]) == [f"deleted {REPO}:v1", f"deleted {REPO}:v2"]
    assert out["bytes_freed"] >= 2 * (1 << 20), out     # two 1 MiB random layers at least
    assert out["blobs_removed"] >= 4                     # 2 layers + 2 configs
    for tag in ("v1", "v2"):
        assert _head(registry, REPO, tag) == 404
    for repo, tag in ((REPO, "v3"), (REPO, "v4"), (SOLO, "only")):
        assert _head(registry, repo, tag) == 200
    # the kept images really pull (blobs intact): drop the local copies first
    with host.client() as client:
        for ref in (f"{REPO}:v3", f"{REPO}:v4", f"{REPO}:v1"):
            for name in (ref, f"{registry.address}/{ref}"):
                with contextlib.suppress(Exception):
                    client.images.remove(name, force=True)
    for tag in ("v3", "v4"):
        assert pull_image.fn(host, f"{registry.address}/{REPO}:{tag}", registry).startswith("sha256:")
    with pytest.raises(DockerError):
        pull_image.fn(host, f"{registry.address}/{REPO}:v1", registry)
    # the registry serves again after its restart (the second run reads every tag through the API)
    # a second run has nothing to prune and does not stop the registry
    again = registry_gc(_params(dry_run=False, confirm=True))
    assert again["tags_to_delete"] == 0 and again.get("blobs_removed") == 0


def test_registry_lock_is_keyed_by_the_registry_endpoint(gc_registry):
    """stand-up-registry (Docker host block + port) and registry-gc (registry block) resolve, from the real block
    documents, to the same lock key; a nested block (the Docker host's SSH target) is readable too."""
    from prefect.client.orchestration import get_client

    from core.ops.locks import endpoint_identity
    from deployments.registry import get
    from flows._ops import _read_block_data, lock_keys

    address = gc_registry["registry"].address
    k_up = lock_keys(get("stand-up-registry").locks, {"registry_host": "lab-dock3", "port": 5000})
    k_gc = lock_keys(get("registry-gc").locks, {"registry_host": "lab-dock3", "registry": REGISTRY_BLOCK})
    assert k_up == k_gc == [f"lock:registry:{address}"]
    with get_client(sync_client=True) as client:
        data = _read_block_data(client, "powerops-docker-host", "lab-dock3")
    assert endpoint_identity(data["ssh"]) == f"{data['ssh']['host']}:{data['ssh']['port']}"


def test_registry_gc_dry_run_through_a_ticket_holds_the_registry_lock(gc_registry, ops_stack):
    import uuid

    address = gc_registry["registry"].address
    tid = f"CHG-GC-{uuid.uuid4().hex[:8]}"
    r = ops_stack.post("/tickets", {"ticket_id": tid, "procedure": "registry-gc", "requester": "alice",
                                    "parameters": {"registry_host": "lab-dock3", "registry": REGISTRY_BLOCK,
                                                   "rules": [{"repositories": "gc-test/*", "keep": 1}]}})
    assert r.status_code == 201, r.text
    done = ops_stack.wait_state(tid, {"COMPLETED", "FAILED", "CRASHED"}, timeout=300)
    assert done["state"] == "Completed", done
    arts = ops_stack.api_post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [done["flow_run_id"]]}}})
    summary = next(a for a in arts if a["key"] == "run-summary")["data"]
    assert f"`lock:registry:{address}`" in summary, summary
    assert _head(gc_registry["registry"], REPO, "v3") == 200      # a dry run deleted nothing
