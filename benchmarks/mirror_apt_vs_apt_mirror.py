"""Benchmark: powerops mirror-apt versus Debian's apt-mirror, same local upstream, same nginx on loopback.

    .venv/bin/python benchmarks/mirror_apt_vs_apt_mirror.py [--small 10000] [--large-mb 1024] [--flow]

Cases: 10,000 small packages, and ~1 GB of large ones. For each: first run and no-change re-run, wall time.
apt-mirror checks sizes only (no signature, not atomic); powerops verifies the InRelease signature with gpgv,
every SHA256, and publishes atomically (snapshot + rename of ``current``).

"powerops engine" runs the task functions of the flow in order without Prefect's orchestration (``.fn``),
in a child process whose peak RSS is reported; ``--flow`` also runs the real Prefect flow (needs
PREFECT_API_URL) and reports its wall time, Prefect's per-task bookkeeping included.
The upstreams are cached under $POWEROPS_LAB_DIR/mirror/bench (built once with apt-ftparchive and gpg).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STATE = Path(os.environ.get("POWEROPS_LAB_DIR", "/var/lib/powerops-lab")) / "mirror"
BENCH = STATE / "bench"
LISTEN = "127.0.0.77:80"  # apt-mirror drops the port from its local paths: use port 80 on a loopback address
URL = f"http://{LISTEN.split(':')[0]}"
WORK = Path(os.environ.get("POWEROPS_BENCH_WORK", "/var/tmp/powerops-mirror-bench"))


def ensure_upstreams(small: int, large_mb: int) -> dict[str, Path]:
    from lab.mirror.upstream import build_bulk_upstream

    keydir = STATE / "upstream-key"
    out = {}
    for name, count, size in (("small", small, 0), ("large", max(1, large_mb // 64), 64 << 20)):
        root = BENCH / name
        marker = root / f".built-{count}-{size}"
        if not marker.exists():
            t = time.monotonic()
            print(f"building upstream {name}: {count} packages of {size} bytes payload ...", flush=True)
            build_bulk_upstream(root, keydir, count, size, prefix=name)
            marker.write_text("")
            print(f"  built in {time.monotonic() - t:.1f}s", flush=True)
        out[name] = root
    return out


def run_apt_mirror(name: str) -> tuple[float, float]:
    base = WORK / "apt-mirror" / name
    shutil.rmtree(base, ignore_errors=True)
    for d in ("mirror", "skel", "var"):
        (base / d).mkdir(parents=True)
    (base / "var" / "postmirror.sh").write_text("")
    conf = base / "mirror.list"
    conf.write_text(f"set base_path {base}\nset defaultarch ppc64el\nset nthreads 20\nset _tilde 0\n"
                    f"deb-ppc64el {URL}/{name} bookworm main\nclean {URL}/{name}\n")
    times = []
    for _ in range(2):
        t = time.monotonic()
        subprocess.run(["apt-mirror", str(conf)], check=True, capture_output=True)
        times.append(time.monotonic() - t)
    n = sum(1 for _ in (base / "mirror").rglob("*.deb"))
    assert n > 0, "apt-mirror mirrored nothing"
    return times[0], times[1]


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak: Linux keeps it across execve)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_child(name: str, dest: str, keyring: str) -> None:
    """One run of the mirror-apt steps (the flow's task functions, in the flow's order); prints JSON."""
    t0 = time.monotonic()
    from core.mirror.apt import AptSpec, by_hash_aliases, package_files, select_index_files
    from core.mirror.deb822 import parse_release
    from core.mirror.plan import Stamp, plan_sync, snapshot_id, spec_digest
    from seams.mirror_store import LocalStore
    from tasks import mirror as t

    t_import = time.monotonic() - t0
    start = time.monotonic()
    upstream = f"{URL}/{name}/"
    spec = AptSpec(("bookworm",), ("main",), ("ppc64el",), translations=False)
    store = LocalStore(dest)
    files = t.fetch_release_files.fn(upstream, "bookworm")
    stamp = Stamp("apt", spec_digest({"upstream": upstream, **spec.as_dict()}),
                  {"bookworm": t.upstream_digest(files)})
    if t.read_published_stamp.fn(store) == stamp:
        print(json.dumps({"changed": False, "seconds": time.monotonic() - start, "import": t_import,
                          "maxrss_mb": peak_rss_mb()}))
        return
    rel = parse_release(t.verify_release_signature.fn(files, "bookworm", Path(keyring).read_bytes()))
    tree = t.store_metadata_files.fn(store, {f"dists/bookworm/{n}": d for n, d in files.items()})
    idx = select_index_files(rel, "bookworm", spec)
    current = t.read_published_manifest.fn(store)
    p1 = plan_sync({f.path: f.entry for f in idx}, t.list_pool_objects.fn(store), None)
    r1 = t.download_files.fn(store, upstream, p1.downloads, 8, optional=[f.path for f in idx], label="indexes")
    t.require_no_failures(r1, "indexes")
    fetched = t.read_stored_files.fn(store, {f.path: f.entry for f in idx})
    got = [f for f in idx if f.path in fetched]
    tree.update({f.path: f.entry for f in got})
    tree.update(by_hash_aliases(got))
    tree.update(package_files(fetched, idx, spec))
    plan = plan_sync(tree, t.list_pool_objects.fn(store), current)
    rep = t.download_files.fn(store, upstream, plan.downloads, 8, label="packages")
    t.require_no_failures(rep, "packages")
    sid = snapshot_id(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), spec_digest({"x": stamp.upstream}))
    t.build_snapshot.fn(store, sid, tree, stamp)
    t.publish_snapshot.fn(store, sid)
    t.prune_mirror.fn(store, 2)
    print(json.dumps({"changed": True, "seconds": time.monotonic() - start, "import": t_import,
                      "download_s": rep.seconds, "files": rep.files, "bytes": rep.nbytes,
                      "maxrss_mb": peak_rss_mb()}))


def run_engine(name: str, keyring: Path) -> list[dict[str, float]]:
    dest = WORK / "powerops" / name
    shutil.rmtree(dest, ignore_errors=True)
    out = []
    for _ in range(2):
        res = subprocess.run([sys.executable, __file__, "--child", name, str(dest), str(keyring)],
                             check=True, capture_output=True, text=True)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    n = sum(1 for _ in (dest / "current" / "pool").rglob("*.deb"))
    assert n > 0, "powerops mirrored nothing"
    return out


def run_flow(name: str) -> tuple[float, float]:
    from blocks.mirror import MirrorKeyring
    from flows.mirror_apt import MirrorAptParams, mirror_apt
    from flows.mirror_common import Destination
    from lab.mirror.upstream import ensure_key

    key = ensure_key(STATE / "upstream-key", "powerops upstream")
    MirrorKeyring(armored_keys=key.public_armored().decode()).save("bench-mirror-upstream", overwrite=True)
    root = WORK / "flow"
    shutil.rmtree(root / name, ignore_errors=True)
    p = MirrorAptParams(upstream_url=f"{URL}/{name}", suites=["bookworm"], translations=False,
                        destination=Destination(name=name, local_root=str(root)),
                        keyring_block="bench-mirror-upstream")
    times = []
    for _ in range(2):
        t = time.monotonic()
        mirror_apt(p)
        times.append(time.monotonic() - t)
    return times[0], times[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--large-mb", type=int, default=1024)
    ap.add_argument("--flow", action="store_true", help="also time the Prefect flow (needs PREFECT_API_URL)")
    args = ap.parse_args()
    if args.child:
        engine_child(*args.child)
        return
    from lab.mirror import web
    from lab.mirror.upstream import ensure_key

    ups = ensure_upstreams(args.small, args.large_mb)
    run_dir = STATE / "bench-nginx"
    web.serve(BENCH, LISTEN, run_dir, workers=2, check_url=f"{URL}/")
    key = ensure_key(STATE / "upstream-key", "powerops upstream")
    keyring = WORK / "upstream.asc"
    WORK.mkdir(parents=True, exist_ok=True)
    keyring.write_bytes(key.public_armored())
    rows = []
    try:
        for name in ups:
            am1, am2 = run_apt_mirror(name)
            eng = run_engine(name, keyring)
            row = {"case": name, "apt-mirror first": am1, "apt-mirror re-run": am2,
                   "powerops first": eng[0]["seconds"], "powerops re-run": eng[1]["seconds"],
                   "ratio first": eng[0]["seconds"] / am1, "powerops peak RSS MB": eng[0]["maxrss_mb"],
                   "startup": eng[0]["import"],
                   "files": eng[0].get("files", 0), "bytes": eng[0].get("bytes", 0)}
            if args.flow:
                f1, f2 = run_flow(name)
                row.update({"flow first": f1, "flow re-run": f2})
            rows.append(row)
    finally:
        web.stop(run_dir)
    print()
    print(f"{'case':<7} {'files':>6} {'MB':>6} | {'apt-mirror 1st':>14} {'re-run':>7} | {'powerops 1st':>12} "
          f"{'re-run':>7} {'ratio':>6} {'RSS MB':>7} {'imports':>8}" + (" | flow 1st  re-run" if args.flow else ""))
    for r in rows:
        line = (f"{r['case']:<7} {r['files']:>6} {r['bytes'] / 1e6:>6.0f} | {r['apt-mirror first']:>13.2f}s "
                f"{r['apt-mirror re-run']:>6.2f}s | {r['powerops first']:>11.2f}s {r['powerops re-run']:>6.3f}s "
                f"{r['ratio first']:>5.2f}x {r['powerops peak RSS MB']:>7.0f} {r['startup']:>7.1f}s")
        if args.flow:
            line += f" | {r['flow first']:>7.2f}s {r['flow re-run']:>6.2f}s"
        print(line)
    load = os.getloadavg()
    print(f"\ntargets: powerops first <= 1.2x apt-mirror, no-change re-run <= 0.1 s, RSS < 200 MB "
          f"(RSS includes ~100 MB of Prefect imported by the task module; 'imports' = Python start-up, not "
          f"counted in the powerops columns). Load average during the run: {load[0]:.1f} on {os.cpu_count()} cores.")


if __name__ == "__main__":
    main()
