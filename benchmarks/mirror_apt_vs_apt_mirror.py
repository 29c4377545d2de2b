"""Benchmark: powerops mirror-apt versus Debian's apt-mirror, same local upstream, same nginx on loopback.

    .venv/bin/python benchmarks/mirror_apt_vs_apt_mirror.py [--small 10000] [--large-mb 1024] [--reps 5] [--flow]

Cases: 10,000 small packages, and ~1 GB of large ones. For each: first run and no-change re-run, wall time,
``--reps`` times with the two tools alternating (the machine is shared: one pair of runs is noise, the median
of the per-repetition ratios is the figure). Each run starts from an empty destination, after ``sync`` (the
previous tree's deletion is not charged to the next run).
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
import statistics
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


def fresh(path: Path) -> None:
    """Remove a previous tree and let the filesystem settle, so its deletion is not charged to the next run."""
    shutil.rmtree(path, ignore_errors=True)
    os.sync()
    time.sleep(0.5)


def run_apt_mirror(name: str) -> tuple[float, float]:
    base = WORK / "apt-mirror" / name
    fresh(base)
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
    files = t.fetch_release_files(upstream, "bookworm")
    stamp = Stamp("apt", spec_digest({"upstream": upstream, **spec.as_dict()}),
                  {"bookworm": t.upstream_digest(files)})
    if t.read_published_stamp(store) == stamp:
        print(json.dumps({"changed": False, "seconds": time.monotonic() - start, "import": t_import,
                          "maxrss_mb": peak_rss_mb()}))
        return
    rel = parse_release(t.verify_release_signature.fn(files, "bookworm", Path(keyring).read_bytes()))
    tree = t.store_metadata_files.fn(store, {f"dists/bookworm/{n}": d for n, d in files.items()})
    idx = select_index_files(rel, "bookworm", spec)
    current = t.read_published_manifest(store)
    p1 = plan_sync({f.path: f.entry for f in idx}, t.list_pool_objects(store), None)
    r1 = t.download_files.fn(store, upstream, p1.downloads, 8, optional=[f.path for f in idx], label="indexes")
    t.require_no_failures(r1, "indexes")
    fetched = t.read_stored_files(store, {f.path: f.entry for f in idx})
    got = [f for f in idx if f.path in fetched]
    tree.update({f.path: f.entry for f in got})
    tree.update(by_hash_aliases(got))
    tree.update(package_files(fetched, idx, spec))
    plan = plan_sync(tree, t.list_pool_objects(store), current)
    sid = snapshot_id(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), spec_digest({"x": stamp.upstream}))
    stage = t.prepare_snapshot(store, sid)
    rep = t.download_files.fn(store, upstream, plan.downloads, 8, label="packages", stage=stage)
    t.require_no_failures(rep, "packages")
    t.build_snapshot.fn(store, sid, tree, stamp)
    t.publish_snapshot.fn(store, sid)
    t.prune_mirror.fn(store, 2)
    print(json.dumps({"changed": True, "seconds": time.monotonic() - start, "import": t_import,
                      "download_s": rep.seconds, "files": rep.files, "bytes": rep.nbytes,
                      "maxrss_mb": peak_rss_mb()}))


def run_engine(name: str, keyring: Path) -> list[dict[str, float]]:
    dest = WORK / "powerops" / name
    fresh(dest)
    out = []
    for _ in range(2):
        res = subprocess.run([sys.executable, __file__, "--child", name, str(dest), str(keyring)],
                             check=True, capture_output=True, text=True)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    n = sum(1 for _ in (dest / "current" / "pool").rglob("*.deb"))
    assert n > 0, "powerops mirrored nothing"
    return out


def prefect_floor() -> float:
    """Wall time of an empty async flow run against the same server: what any flow run costs (create the run,
    set its states), the floor under the flow columns."""
    from prefect import flow

    from flows._sync import call_flow

    @flow(name="bench-empty-flow")
    async def empty() -> None:
        return None

    times = []
    for _ in range(3):
        t = time.monotonic()
        call_flow(empty)
        times.append(time.monotonic() - t)
    return min(times)


def run_flow(name: str) -> tuple[float, float, float]:
    from blocks.mirror import MirrorKeyring
    from flows._sync import call_flow
    from flows.mirror_apt import MirrorAptParams, mirror_apt
    from flows.mirror_common import Destination
    from lab.mirror.upstream import ensure_key

    key = ensure_key(STATE / "upstream-key", "powerops upstream")
    MirrorKeyring(armored_keys=key.public_armored().decode()).save("bench-mirror-upstream", overwrite=True)
    root = WORK / "flow"
    fresh(root / name)
    p = MirrorAptParams(upstream_url=f"{URL}/{name}", suites=["bookworm"], translations=False,
                        destination=Destination(name=name, local_root=str(root)),
                        keyring_block="bench-mirror-upstream")
    times = []
    for _ in range(2):
        t = time.monotonic()
        call_flow(mirror_apt, p)
        times.append(time.monotonic() - t)
    # the same no-change run without Prefect's flow heartbeat (default every 180 s: each flow run then waits
    # up to 1 s at its end for the heartbeat thread, whatever the flow does)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        t = time.monotonic()
        call_flow(mirror_apt, p)
        times.append(time.monotonic() - t)
    return times[0], times[1], times[2]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--large-mb", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5, help="repetitions per case (tools alternate)")
    ap.add_argument("--cases", default="small,large")
    ap.add_argument("--flow", action="store_true", help="also time the Prefect flow (needs PREFECT_API_URL)")
    args = ap.parse_args()
    if args.child:
        engine_child(*args.child)
        return
    from lab.mirror import web
    from lab.mirror.upstream import ensure_key

    ups = {k: v for k, v in ensure_upstreams(args.small, args.large_mb).items() if k in args.cases.split(",")}
    run_dir = STATE / "bench-nginx"
    web.serve(BENCH, LISTEN, run_dir, workers=2, check_url=f"{URL}/")
    key = ensure_key(STATE / "upstream-key", "powerops upstream")
    keyring = WORK / "upstream.asc"
    WORK.mkdir(parents=True, exist_ok=True)
    keyring.write_bytes(key.public_armored())
    loads: list[float] = []
    rows = []
    try:
        for name in ups:
            reps: list[dict[str, float]] = []
            for i in range(args.reps):
                r: dict[str, float] = {}
                order = ("apt-mirror", "powerops") if i % 2 == 0 else ("powerops", "apt-mirror")
                for tool in order:
                    loads.append(os.getloadavg()[0])
                    if tool == "apt-mirror":
                        r["am1"], r["am2"] = run_apt_mirror(name)
                    else:
                        eng = run_engine(name, keyring)
                        r.update(pw1=eng[0]["seconds"], pw2=eng[1]["seconds"], rss=eng[0]["maxrss_mb"],
                                 imp=eng[0]["import"], files=eng[0].get("files", 0), bytes=eng[0].get("bytes", 0))
                if args.flow:
                    r["fl1"], r["fl2"], r["fl3"] = run_flow(name)
                    r["floor"] = prefect_floor()
                r["ratio"] = r["pw1"] / r["am1"]
                if args.flow:
                    r["fratio"] = r["fl1"] / r["am1"]
                print(f"  {name} rep {i + 1}: apt-mirror {r['am1']:.2f}s / re-run {r['am2']:.2f}s; powerops "
                      f"{r['pw1']:.2f}s / re-run {r['pw2']:.3f}s; ratio {r['ratio']:.2f}x"
                      + (f"; flow {r['fl1']:.2f}s ({r['fratio']:.2f}x) / re-run {r['fl2']:.2f}s "
                         f"({r['fl3']:.2f}s without heartbeat); empty flow run {r['floor']:.2f}s" if args.flow else "")
                      + f" (load {os.getloadavg()[0]:.1f})", flush=True)
                reps.append(r)
            rows.append((name, reps))
    finally:
        web.stop(run_dir)
    print()
    print(f"{'case':<6} {'files':>6} {'MB':>5} | {'apt-mirror 1st':>14} {'re-run':>7} | {'powerops 1st':>12} "
          f"{'re-run':>7} | {'ratio (median, min-max)':>24} {'RSS MB':>7}" + (" | flow 1st  ratio  re-run  (no heartbeat)  empty flow" if args.flow else ""))
    for name, reps in rows:
        col = {k: [r[k] for r in reps] for k in reps[0]}
        line = (f"{name:<6} {int(col['files'][0]):>6} {col['bytes'][0] / 1e6:>5.0f} | {median(col['am1']):>13.2f}s "
                f"{median(col['am2']):>6.2f}s | {median(col['pw1']):>11.2f}s {median(col['pw2']):>6.3f}s | "
                f"{median(col['ratio']):>8.2f}x ({min(col['ratio']):.2f}-{max(col['ratio']):.2f}x)      "
                f"{max(col['rss']):>7.0f}")
        if args.flow:
            line += (f" | {median(col['fl1']):>7.2f}s {median(col['fratio']):>5.2f}x {median(col['fl2']):>6.2f}s "
                     f"({median(col['fl3']):.2f}s)  {median(col['floor']):>6.2f}s")
        print(line)
    print(f"\nmedians over {args.reps} repetition(s) per case; ratio = powerops first run / apt-mirror first run of "
          f"the same repetition. Targets: first run <= 1.2x apt-mirror, no-change re-run <= 0.1 s, RSS < 200 MB "
          f"(RSS includes ~100 MB of Prefect imported by the task module; Python start-up, median "
          f"{median([r['imp'] for _, reps in rows for r in reps]):.1f}s, is not counted in the powerops columns). "
          f"Load average (1 min) at the starts of runs: median {median(loads):.1f}, max {max(loads):.1f} on "
          f"{os.cpu_count()} cores."
          + (" 'empty flow': the fastest of 3 runs of an empty async flow on the same Prefect server, the cost of any "
             "flow run (part of every flow figure)." if args.flow else ""))


if __name__ == "__main__":
    main()
