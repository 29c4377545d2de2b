"""Locks are keyed by the identity of the target a block points at, not by the block's name."""

from __future__ import annotations

from core.ops.locks import LockTarget, block_refs, derive_lock_keys, endpoint_identity
from deployments.registry import get

HMC = LockTarget("hmc", ("hmc_block", "managed_system"), blocks=(("hmc_block", "powerops-hmc-console"),))


def test_endpoint_identity_of_each_block_kind() -> None:
    assert endpoint_identity({"host": "HMC1.Example", "port": 22, "username": "hscroot"}) == "hmc1.example:22"
    assert endpoint_identity({"name": "dock3", "address": "10.250.77.13", "ssh": {"host": "x"}}) == "10.250.77.13"
    assert endpoint_identity({"address": "Reg.example:5000"}) == "reg.example:5000"
    assert endpoint_identity({"auth_url": "https://pvc.example:5000/v3"}) == "pvc.example:5000"
    assert endpoint_identity({"auth_url": "https://pvc.example/v3"}) == "pvc.example:443"
    assert endpoint_identity({"ssh": {"host": "10.0.0.9", "port": 2222}, "server_ip": "x"}) == "10.0.0.9:2222"
    assert endpoint_identity({"root": "/srv"}) is None


def test_two_blocks_for_the_same_hmc_give_one_key() -> None:
    idents = {("powerops-hmc-console", "site-hmc"): ["10.0.0.5:22"],
              ("powerops-hmc-console", "hmc-prod"): ["10.0.0.5:22"]}
    a = derive_lock_keys([HMC], {"hmc_block": "site-hmc", "managed_system": "sys1"}, idents)
    b = derive_lock_keys([HMC], {"hmc_block": "hmc-prod", "managed_system": "sys1"}, idents)
    assert a == b == ["lock:hmc:10.0.0.5:22:sys1"]
    other = derive_lock_keys([HMC], {"hmc_block": "hmc-prod", "managed_system": "sys2"}, idents)
    assert other != a


def test_unresolved_block_falls_back_to_its_name() -> None:
    assert derive_lock_keys([HMC], {"hmc_block": "gone", "managed_system": "s"}) == ["lock:hmc:block=gone:s"]


def test_a_swarm_locks_each_manager_so_overlapping_inventories_collide() -> None:
    swarm = LockTarget("swarm", ("inventory",), blocks=(("inventory", "powerops-swarm-inventory"),))
    idents = {("powerops-swarm-inventory", "a"): ["10.0.0.1", "10.0.0.2"],
              ("powerops-swarm-inventory", "b"): ["10.0.0.2"]}
    ka = derive_lock_keys([swarm], {"inventory": "a"}, idents)
    kb = derive_lock_keys([swarm], {"inventory": "b"}, idents)
    assert ka == ["lock:swarm:10.0.0.1", "lock:swarm:10.0.0.2"] and set(ka) & set(kb)


def test_registry_stand_up_and_gc_share_the_registry_lock() -> None:
    up, gc = get("stand-up-registry"), get("registry-gc")
    idents = {("powerops-docker-host", "lab-dock3"): ["10.250.77.13"],
              ("powerops-registry", "test-registry"): ["10.250.77.13:5000"]}
    k_up = derive_lock_keys(up.locks, {"registry_host": "lab-dock3", "port": 5000}, idents)
    k_gc = derive_lock_keys(gc.locks, {"registry_host": "lab-dock3", "registry": "test-registry"}, idents)
    assert k_up == k_gc == ["lock:registry:10.250.77.13:5000"]
    assert block_refs(gc.locks, {"registry": "test-registry"}) == [("powerops-registry", "test-registry")]


def test_block_refs_lists_each_block_once_including_lists_and_dotted_paths() -> None:
    hosts = LockTarget("host", ("targets",), blocks=(("targets", "powerops-ssh-target"),))
    nli = LockTarget("install-server", ("prepare.install_server",),
                     blocks=(("prepare.install_server", "powerops-novalink-install-server"),))
    refs = block_refs([hosts, nli], {"targets": ["a", "b", "a"], "prepare": {"install_server": "nl"}})
    assert refs == [("powerops-ssh-target", "a"), ("powerops-ssh-target", "b"),
                    ("powerops-novalink-install-server", "nl")]
    keys = derive_lock_keys([hosts], {"targets": ["a", "b"]},
                            {("powerops-ssh-target", "a"): ["h:22"], ("powerops-ssh-target", "b"): ["h:22"]})
    assert keys == ["lock:host:h:22"]


def test_post_install_locks_each_installed_host_named_in_the_partition_map() -> None:
    post = get("novalink-post-install")
    params = {"partitions": [], "post_install": {"novalink_ssh": {"nova1": "nl-a", "nova2": "nl-b"}}}
    assert block_refs(post.locks, params) == [("powerops-ssh-target", "nl-a"), ("powerops-ssh-target", "nl-b")]
    idents = {("powerops-ssh-target", "nl-a"): ["10.0.0.81:22"], ("powerops-ssh-target", "nl-b"): ["10.0.0.82:22"]}
    assert derive_lock_keys(post.locks, params, idents) == ["lock:novalink-host:10.0.0.81:22",
                                                           "lock:novalink-host:10.0.0.82:22"]
    assert derive_lock_keys(post.locks, {"post_install": {"novalink_ssh": {}}}) == []
