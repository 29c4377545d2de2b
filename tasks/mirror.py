"""Thin Prefect tasks of the mirror flows (apt, yum, pip). One side effect each; parsing lives in core.mirror."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from core.errors import PowerOpsError
from core.mirror.clients import ClientFile
from core.mirror.deb822 import FileEntry
from core.mirror.errors import (
    ChecksumMismatch,
    MirrorError,
    SignatureInvalid,
    UpstreamError,
    UpstreamTLSError,
)
from core.mirror.plan import STAMP, Download, Stamp, manifest_to_json, snapshots_to_prune
from core.mirror.signed import clearsigned_body, dearmor, is_clearsigned, parse_gpgv_status, require_valid
from core.mirror.tls import tls_failure
from seams.mirror_fetch import Job, Result, Upstream, fetch_all
from seams.mirror_http import download, fetch, http_client
from seams.mirror_store import LocalStore, RemoteStore
from tasks.background import BackgroundProgress

Store = LocalStore | RemoteStore
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _logger():  # type: ignore[no-untyped-def]
    try:
        return get_run_logger()
    except Exception:  # outside a run (benchmarks call .fn)
        import logging

        return logging.getLogger("powerops.mirror")


# -- upstream metadata ----------------------------------------------------------------------------------

def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task unless the upstream's certificate was refused (retrying cannot fix that)."""
    try:
        state.result()
    except UpstreamTLSError:
        return False
    except Exception:  # noqa: BLE001 - any other failure may be transient
        return True
    return True


METADATA_RETRIES = 2  # apt's Acquire::Retries for the metadata fetches
METADATA_RETRY_DELAY_S = 2.0
_T = TypeVar("_T")


def _retrying(what: str, fetch_once: Callable[[], _T]) -> _T:
    """``fetch_once()``, retried ``METADATA_RETRIES`` times after an upstream error, except a refused TLS
    certificate (retrying cannot fix that).

    The metadata fetches that start a mirror run are plain functions, not task runs with Prefect retries: a
    task run costs a no-change run ~25 ms of its 0.1 s budget (measured: 0.101 s -> 0.075 s median without it),
    and such a run is that one fetch. The retries are logged in the run's log."""
    for attempt in range(1, METADATA_RETRIES + 2):
        try:
            return fetch_once()
        except UpstreamTLSError:
            raise
        except UpstreamError as exc:
            if attempt > METADATA_RETRIES:
                raise
            _logger().warning("%s: %s; retry %d of %d in %.0f s", what, exc, attempt, METADATA_RETRIES,
                              METADATA_RETRY_DELAY_S)
            time.sleep(METADATA_RETRY_DELAY_S)
    raise AssertionError("unreachable")


def fetch_release_files(upstream_url: str, suite: str, ca_pem: str | None = None) -> dict[str, bytes]:
    """InRelease, Release and Release.gpg of a suite (those the upstream has); ``ca_pem``: a private CA."""
    def once() -> dict[str, bytes]:
        with http_client(upstream_url, max_connections=2, ca_pem=ca_pem) as client:
            out = {}
            for name in ("InRelease", "Release", "Release.gpg"):
                data = fetch(client, f"dists/{suite}/{name}", optional=True)
                if data is not None:
                    out[name] = data
        if "InRelease" not in out and "Release" not in out:
            raise UpstreamError(f"{upstream_url.rstrip('/')}/dists/{suite}/", "neither InRelease nor Release exists")
        return out

    return _retrying(f"suite {suite}", once)


def _gpgv(keyring: bytes, checks: Sequence[Sequence[bytes]]) -> list[tuple[str, int]]:
    """Run ``gpgv`` once per check (the files of one signature, signature first), all at the same time;
    returns (status output, exit code) of each, in order."""
    with tempfile.TemporaryDirectory(prefix="powerops-gpgv-") as tmp:
        kr = Path(tmp) / "keyring.gpg"
        kr.write_bytes(dearmor(keyring))
        procs = []
        for c, files in enumerate(checks):
            paths = []
            for i, data in enumerate(files):
                p = Path(tmp) / f"c{c}f{i}"
                p.write_bytes(data)
                paths.append(str(p))
            procs.append(subprocess.Popen(["gpgv", "--status-fd", "1", "--keyring", str(kr), *paths],
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        out = []
        for proc in procs:
            try:
                stdout, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise
            out.append((stdout.decode(errors="replace"), proc.returncode))
    return out


@task(cache_policy=NO_CACHE)
def verify_release_signature(files: Mapping[str, bytes], suite: str, keyring: bytes | None,
                             allow_unsigned: bool = False,
                             allowed_fingerprints: Sequence[str] | None = None) -> str:
    """Check InRelease (and Release.gpg) with gpgv against ``keyring``; returns the verified Release text."""
    log = _logger()
    what = f"suite {suite}"
    if (keyring is None or not keyring.strip()) and not allow_unsigned:
        raise SignatureInvalid(f"{what}: no keyring configured; refusing an unverified upstream "
                               "(set allow_unsigned to mirror it anyway)")
    inrelease = files.get("InRelease")
    release = files.get("Release")
    if inrelease is not None and not is_clearsigned(inrelease):
        raise SignatureInvalid(f"{what}: InRelease is not a clearsigned message")
    if keyring is not None and keyring.strip():
        checks: dict[str, list[bytes]] = {}  # both signatures are checked (clients may use either), at once
        if inrelease is not None:
            checks["InRelease"] = [inrelease]
        if release is not None and "Release.gpg" in files:
            checks["Release.gpg"] = [files["Release.gpg"], release]
        results = _gpgv(keyring, list(checks.values())) if checks else []
        for name, (status, rc) in zip(checks, results, strict=True):
            fpr = require_valid(parse_gpgv_status(status, rc), f"{what} {name}", list(allowed_fingerprints or []))
            log.info("%s: %s signed by %s", what, name, fpr)
        if not checks:
            if not allow_unsigned:
                raise SignatureInvalid(f"{what}: upstream has no signature (no InRelease, no Release.gpg)")
            log.warning("%s: upstream is UNSIGNED; mirrored because allow_unsigned is set", what)
    else:
        log.warning("%s: signature NOT verified (allow_unsigned is set)", what)
    if inrelease is not None:
        body = clearsigned_body(inrelease.decode("utf-8", errors="replace"))
        if release is not None and release.decode("utf-8", errors="replace") != body:
            raise SignatureInvalid(f"{what}: Release and InRelease differ (an upstream update in progress, "
                                   "or tampering); try again later")
        return body
    assert release is not None
    return release.decode("utf-8", errors="replace")


def upstream_digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


# -- published state ------------------------------------------------------------------------------------

# Reads of the published stamp (a local file, or one SFTP read on the mirror host) and of the worker's own cache
# (manifest, pool listing, stored index files) and the staging mkdir are plain functions, not tasks: each is one
# small read with nothing to retry, and a task run costs ~5 ms here plus ~15 ms of the Prefect server's CPU to
# record its states (measured), which a no-change run (0.1 s budget) and a CPU-bound first run both wait for.
# The run history keeps the steps that verify, download, publish and prune.

def read_published_stamp(store: Store) -> Stamp | None:
    """The stamp of the published snapshot (None: nothing published, or unreadable)."""
    data = store.read_current(STAMP)
    if data is None:
        return None
    try:
        return Stamp.from_json(data)
    except PowerOpsError:
        return None


def read_published_manifest(store: LocalStore) -> dict[str, FileEntry] | None:
    return store.current_manifest()


def list_pool_objects(store: Store) -> set[str]:
    store.ensure_layout()
    return store.pool_present()


@task(cache_policy=NO_CACHE)
def verify_pool_objects(store: LocalStore, tree: Mapping[str, FileEntry]) -> list[str]:
    """Re-hash every stored file the tree uses; corrupt ones are dropped so they are fetched again."""
    bad = store.verify_objects(tree)
    if bad:
        _logger().warning("%d stored file(s) failed their SHA256 check and will be fetched again: %s",
                          len(bad), ", ".join(b[:12] for b in bad[:10]))
    return bad


@task(cache_policy=NO_CACHE)
def store_metadata_files(store: LocalStore, files: Mapping[str, bytes]) -> dict[str, FileEntry]:
    """Put verified top-level files (InRelease, Release, ...) in the pool; returns their tree entries."""
    store.ensure_layout()
    return {path: FileEntry(len(data), store.put_object(data)) for path, data in files.items()}


def read_stored_files(store: LocalStore, entries: Mapping[str, FileEntry]) -> dict[str, bytes]:
    """Contents of stored objects (index files to parse); absent ones are left out."""
    out = {}
    for path, entry in entries.items():
        p = store.object_path(entry.sha256)
        if p.exists():
            out[path] = p.read_bytes()
    return out


# -- downloads ------------------------------------------------------------------------------------------

@dataclass
class DownloadReport:
    files: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    resumed: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    missing_optional: list[str] = field(default_factory=list)

    def row(self) -> dict[str, str]:
        from core.mirror.plan import throughput_row

        return throughput_row(self.files, self.nbytes, self.seconds, self.skipped, len(self.failed))


@task(cache_policy=NO_CACHE)
def download_files(store: LocalStore, upstream_url: str, downloads: Sequence[Download], concurrency: int = 8,
                   optional: Sequence[str] = (), label: str = "packages", skipped: int = 0,
                   workers: int | None = None, ca_pem: str | None = None, stage: str | None = None) -> DownloadReport:
    """Fetch ``downloads`` into the pool over ``concurrency`` connections, checking size and SHA256 of each.

    Files go through the pipelined keep-alive fetcher (``seams.mirror_fetch``), in this process or spread
    over ``workers`` processes (default: one per two cores when there are tens of thousands of small files).
    Interrupted files (a partial is present) are resumed with Range, and whatever the fast path does not
    handle (redirects, server errors, odd framing) is fetched again through httpx (``seams.mirror_http``).
    With ``stage`` (the staging directory of the snapshot being built, ``prepare_snapshot``), small files
    are written straight into it and hard-linked into the pool: the snapshot is staged while downloading.
    Progress is published as a Prefect progress artifact, updated at most once a second.
    """
    log = _logger()
    report = DownloadReport(skipped=skipped)
    optional_set = set(optional)
    total = len(downloads)
    start = time.monotonic()
    progress = (BackgroundProgress(f"mirror download: {label} ({total} files)")
                if TaskRunContext.get() is not None and total else None)
    done_count = 0

    def record(path: str, nbytes: int, resumed: bool, err: str | None) -> None:
        nonlocal done_count
        done_count += 1
        if err == "missing":
            report.missing_optional.append(path)
        elif err:
            report.failed[path] = err
            log.warning("download failed: %s", err)
        else:
            report.files += 1
            report.nbytes += nbytes
            report.resumed += int(resumed)
        if progress is not None:
            progress.update(100.0 * done_count / total)

    # the progress bar ends at 100 %, or where the download stopped if it failed
    with progress if progress is not None else contextlib.nullcontext():
        by_sha = {d.sha256: d for d in downloads}
        careful: list[Download] = []
        jobs: list[Job] = []
        for d in downloads:
            partial = store.partial_path(d.sha256)
            if partial.exists():
                careful.append(d)  # resumed with a Range request
            else:
                jobs.append(Job(d.path, d.size, d.sha256, str(store.object_path(d.sha256)), str(partial),
                                f"{stage}/{d.path}" if stage else ""))
        if jobs:
            up = Upstream(upstream_url, ca_pem)
            n_workers = _worker_count(downloads) if workers is None else max(1, workers)
            results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
            producers = (_fetch_in_processes(up, jobs, n_workers, concurrency, ca_pem, results) if n_workers > 1
                         else _fetch_in_thread(up, jobs, concurrency, results))
            by_path = {j.path: by_sha[j.sha256] for j in jobs}
            while producers:
                res = results.get()
                if res is None:
                    producers -= 1
                elif res.fallback:
                    careful.append(by_path[res.path])
                elif res.ok:
                    record(res.path, res.nbytes, False, None)
                elif res.missing and res.path in optional_set:
                    record(res.path, 0, False, "missing")
                elif res.missing:
                    record(res.path, 0, False, f"{up.url(res.path)}: {res.error}")
                else:
                    record(res.path, 0, False, res.error)
        if careful:
            _download_careful(store, upstream_url, careful, concurrency, optional_set, ca_pem, record)
    report.seconds = time.monotonic() - start
    log.info("%s: %d files, %d bytes in %.2fs (%d resumed, %d failed)", label, report.files, report.nbytes,
             report.seconds, report.resumed, len(report.failed))
    return report


SMALL_FILES_PER_WORKER = 5000


def _worker_count(downloads: Sequence[Download]) -> int:
    """Download processes: one keeps two cores busy (the upstream's web server takes the rest); more only
    for tens of thousands of small files on a bigger machine."""
    small = sum(1 for d in downloads if 0 <= d.size < (256 << 10))
    return max(1, min((os.cpu_count() or 1) // 2, 4, small // SMALL_FILES_PER_WORKER))


def _connections(concurrency: int, n: int) -> int:
    return max(1, min(concurrency, n))


def _fetch_in_thread(up: Upstream, jobs: list[Job], concurrency: int,
                     results: queue.SimpleQueue[Result | None]) -> int:
    """Run the fetcher on a background thread of this process; returns the number of producers (1)."""
    def run() -> None:
        try:
            fetch_all(up, jobs, results.put, _connections(concurrency, len(jobs)))
        except BaseException as exc:  # noqa: BLE001 - every job must still get an answer
            for j in jobs:
                results.put(Result(j.path, False, fallback=True, error=f"{exc.__class__.__name__}: {exc}"))
        finally:
            results.put(None)

    threading.Thread(target=run, name="mirror-fetch", daemon=True).start()
    return 1


def _fetch_in_processes(up: Upstream, jobs: list[Job], workers: int, concurrency: int, ca_pem: str | None,
                        results: queue.SimpleQueue[Result | None]) -> int:
    """Spread ``jobs`` over ``workers`` processes (``python -m seams.mirror_fetch``); returns producers."""
    chunks: list[list[Job]] = [[] for _ in range(workers)]
    for i, j in enumerate(sorted(jobs, key=lambda j: -max(j.size, 0))):
        chunks[i % workers].append(j)
    conns = max(1, concurrency // workers)
    for chunk in chunks:
        proc = subprocess.Popen([sys.executable, "-m", "seams.mirror_fetch"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(PROJECT_ROOT))
        assert proc.stdin is not None
        lines = [json.dumps({"base_url": up.base_url, "connections": conns, "ca_pem": ca_pem,
                             "timeout": up.timeout})]
        lines += [json.dumps(dataclasses.asdict(j)) for j in chunk]
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.close()

        def reader(proc: subprocess.Popen[bytes] = proc, chunk: list[Job] = chunk) -> None:
            seen: set[str] = set()
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    r = Result(**json.loads(raw))
                    seen.add(r.path)
                    results.put(r)
                rc = proc.wait()
                err = proc.stderr.read().decode(errors="replace").strip()[-300:] if proc.stderr else ""
                for j in chunk:
                    if j.path not in seen:  # the careful path fetches (and names the error of) what is left
                        results.put(Result(j.path, False, fallback=True, error=f"worker exited {rc}: {err}"))
            finally:
                results.put(None)

        threading.Thread(target=reader, name="mirror-fetch-worker", daemon=True).start()
    return workers


def _download_careful(store: LocalStore, upstream_url: str, downloads: Sequence[Download], concurrency: int,
                      optional: set[str], ca_pem: str | None,
                      record: Callable[[str, int, bool, str | None], None]) -> None:
    """httpx downloads (``seams.mirror_http.download``): resumes with Range, redirects, named errors."""
    def one(client: httpx.Client, d: Download) -> tuple[Download, int, bool, str | None]:
        try:
            res = download(client, d.path, d.size, d.sha256, store.object_path(d.sha256),
                           store.partial_path(d.sha256))
            return d, res.nbytes, res.resumed, None
        except UpstreamError as exc:
            if d.path in optional and "HTTP 404" in str(exc):
                return d, 0, False, "missing"
            return d, 0, False, str(exc)
        except ChecksumMismatch as exc:
            return d, 0, False, str(exc)
        except OSError as exc:
            return d, 0, False, f"{d.path}: {exc}"

    n = _connections(concurrency, len(downloads))
    with http_client(upstream_url, max_connections=n, ca_pem=ca_pem) as client, \
            ThreadPoolExecutor(max_workers=n) as pool:
        for d, nbytes, resumed, err in pool.map(lambda d: one(client, d), downloads):
            record(d.path, nbytes, resumed, err)


# -- publishing -----------------------------------------------------------------------------------------

def prepare_snapshot(store: LocalStore, sid: str) -> str:
    """An empty staging directory for snapshot ``sid`` (downloads may stage files into it); returns its path."""
    return str(store.prepare_snapshot(sid))


@task(cache_policy=NO_CACHE)
def build_snapshot(store: LocalStore, sid: str, tree: Mapping[str, FileEntry], stamp: Stamp) -> str:
    """Stage snapshot ``sid`` (hard links into the pool); nothing is visible to clients yet."""
    store.build_snapshot(sid, tree, manifest_to_json(tree).encode(), stamp.to_json().encode())
    return sid


@task(cache_policy=NO_CACHE)
def publish_snapshot(store: Store, sid: str) -> str:
    """Switch ``current`` to the snapshot (rename(2) / mv -T): the one moment clients see a change."""
    store.publish(sid)
    _logger().info("%s: published snapshot %s", store.label, sid)
    return sid


@task(cache_policy=NO_CACHE)
def prune_mirror(store: Store, keep: int = 2) -> dict[str, int]:
    """Remove snapshots beyond ``keep`` and the pool files no snapshot uses any more."""
    old = snapshots_to_prune(store.snapshots(), store.current_snapshot(), keep)
    removed = store.remove_snapshots(old)
    files, nbytes = store.gc_pool()
    return {"snapshots removed": removed, "files removed": files, "bytes freed": nbytes}


@task(cache_policy=NO_CACHE)
def push_snapshot(local: LocalStore, remote: RemoteStore, sid: str, tree: Mapping[str, FileEntry]) -> dict[str, int]:
    """Copy snapshot ``sid`` to the mirror host: the pool objects it lacks, then the tree as hard links."""
    remote.ensure_layout()
    have = remote.pool_present()
    missing = sorted({e.sha256 for e in tree.values()} - have)
    start = time.monotonic()
    sent = remote.push(local.tar_stream(sid, tree, missing))
    return {"objects sent": len(missing), "bytes sent": sent, "milliseconds": int((time.monotonic() - start) * 1000)}


def require_no_failures(report: DownloadReport, what: str) -> None:
    if report.failed:
        first = "; ".join(list(report.failed.values())[:3])
        raise MirrorError(f"{what}: {len(report.failed)} file(s) failed, nothing was published "
                          f"(the next run resumes): {first}")


# -- clients --------------------------------------------------------------------------------------------

@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def install_client_files(target_block: str, files: Sequence[ClientFile]) -> list[str]:
    """Write the client configuration files on a host over SSH (atomic, skips identical ones); returns changed."""
    from blocks.ssh import SshTarget

    conn = SshTarget.load(target_block).connect()
    changed = [f.path for f in files if conn.write_file(f.path, f.content, f.mode)]
    _logger().info("%s: %d of %d client file(s) changed", conn.host, len(changed), len(files))
    return changed


# -- wheelhouse -----------------------------------------------------------------------------------------

@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5, retry_condition_fn=_retry_transient)
def download_wheels(store: LocalStore, requirements: Sequence[str], platforms: Sequence[str], python_version: str,
                    implementation: str, index_url: str, find_links: Sequence[str], no_index: bool,
                    pip_python: str = "/usr/bin/python3", ca_pem: str | None = None) -> dict[str, FileEntry]:
    """``pip download`` of the requirement set for the target platform into the pool; {file name: entry}.

    ``ca_pem`` (a private CA of an https index or find-links server) is given to pip with ``--cert``.
    """
    import shutil
    import uuid

    store.ensure_layout()
    work = store.root / ".pool" / "partial" / f"wheels-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    argv = [pip_python, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
            "--only-binary=:all:", "--python-version", python_version, "--implementation", implementation,
            "--dest", str(work)]
    for p in platforms:
        argv += ["--platform", p]
    if no_index:
        argv.append("--no-index")
    elif index_url:
        argv += ["--index-url", index_url]
    for fl in find_links:
        argv += ["--find-links", fl]
    cert = work.with_name(work.name + ".ca.pem")
    env = dict(os.environ)
    if ca_pem:
        cert.write_text(ca_pem)
        argv += ["--cert", str(cert)]
        # requests prefers REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE over pip's --cert: the given CA must win
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT"):
            env.pop(var, None)
    argv += ["--", *requirements]
    where = (",".join(find_links) if no_index else index_url) or ",".join(find_links) or "pip"
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=3600, env=env)
        if res.returncode != 0:
            if "CERTIFICATE_VERIFY_FAILED" in res.stderr:
                detail = res.stderr.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip()
                raise UpstreamTLSError(where, tls_failure(detail or "certificate verify failed"))
            raise UpstreamError(where, f"pip download failed ({res.returncode}): {res.stderr.strip()[-1500:]}")
        out: dict[str, FileEntry] = {}
        for f in sorted(work.iterdir()):
            out[f.name] = FileEntry(f.stat().st_size, store.put_object(f.read_bytes()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cert.unlink(missing_ok=True)
    _logger().info("pip download: %d distribution(s) for %s / %s%s", len(out), ",".join(platforms),
                   implementation, python_version)
    return out


# -- yum ------------------------------------------------------------------------------------------------

def fetch_repomd(upstream_url: str, ca_pem: str | None = None) -> dict[str, bytes]:
    """repodata/repomd.xml and its detached signature repomd.xml.asc (when the upstream has one)."""
    def once() -> dict[str, bytes]:
        with http_client(upstream_url, max_connections=2, ca_pem=ca_pem) as client:
            repomd = fetch(client, "repodata/repomd.xml")
            assert repomd is not None
            out = {"repodata/repomd.xml": repomd}
            sig = fetch(client, "repodata/repomd.xml.asc", optional=True)
            if sig is not None:
                out["repodata/repomd.xml.asc"] = sig
        return out

    return _retrying("repomd.xml", once)


@task(cache_policy=NO_CACHE)
def verify_detached_signature(data: bytes, signature: bytes | None, what: str, keyring: bytes | None,
                              allow_unsigned: bool = False, allowed_fingerprints: Sequence[str] | None = None) -> str:
    """gpgv check of a detached signature (repomd.xml.asc); returns the signer's fingerprint or ''."""
    log = _logger()
    if keyring is None or not keyring.strip() or signature is None:
        if not allow_unsigned:
            reason = "no keyring configured" if signature is not None else "upstream has no signature"
            raise SignatureInvalid(f"{what}: {reason}; refusing an unverified upstream (set allow_unsigned to "
                                   "mirror it anyway)")
        log.warning("%s: signature NOT verified (allow_unsigned is set)", what)
        return ""
    [(status, rc)] = _gpgv(keyring, [[signature, data]])
    fpr = require_valid(parse_gpgv_status(status, rc), what, list(allowed_fingerprints or []))
    log.info("%s: signed by %s", what, fpr)
    return fpr


# -- web server on the mirror host ----------------------------------------------------------------------

@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def read_remote_file(target_block: str, path: str) -> bytes | None:
    from blocks.ssh import SshTarget

    return SshTarget.load(target_block).connect().read_file(path)


@task(cache_policy=NO_CACHE)
def validate_web_config(target_block: str, argv: Sequence[str]) -> str:
    """Run the web server's own configuration check (``nginx -t``); raises CommandFailed if it refuses."""
    from blocks.ssh import SshTarget

    res = SshTarget.load(target_block).connect().run(list(argv))
    return (res.stderr or res.stdout).strip()


@task(cache_policy=NO_CACHE)
def reload_web_server(target_block: str, argv: Sequence[str]) -> None:
    from blocks.ssh import SshTarget

    SshTarget.load(target_block).connect().run(list(argv))
