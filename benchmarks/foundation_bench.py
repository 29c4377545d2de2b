"""Foundation benchmark: prints figures, asserts nothing.

Runs in its OWN lab (tag ``b``: bridge pwlabb, subnet 10.250.78.0/24, state under /var/lib/powerops-lab-bench,
its own Prefect server on port 4310), so it never disturbs the main lab, then removes it.

Figures: lab bring-up seconds (3 dockerd + sshd hosts, from cached packages), first base-image build seconds
(a real debootstrap into a fresh cache), cached re-run seconds, registry flow seconds (certificates to the proof
on every host) versus the same registry steps as a plain shell script of openssl/htpasswd/docker/ssh commands.

    .venv/bin/python benchmarks/foundation_bench.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ENV = {
    "POWEROPS_LAB_TAG": "b",
    "POWEROPS_LAB_SUBNET_PREFIX": "10.250.78",
    "POWEROPS_LAB_DIR": "/var/lib/powerops-lab-bench",
    "POWEROPS_LAB_RUN": "/run/powerops-lab-bench",
    "POWEROPS_PREFECT_PORT": "4310",
    "PREFECT_API_URL": "http://127.0.0.1:4310/api",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}
os.environ.update(ENV)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
POWEROPS = [str(Path(sys.executable).with_name("powerops"))]


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    out = fn()
    dt = time.monotonic() - t0
    print(f"  {label:<48} {dt:8.1f} s", flush=True)
    return dt, out


PLAIN = r"""#!/usr/bin/env bash
# The registry steps by hand, as the seed does them (openssl, htpasswd, docker, ssh/scp).
set -euo pipefail
H=$1; PORT=$2; KEY=$3; KH=$4; BASE=$5; BIN=$6; shift 6; OTHERS="$*"
W=$(mktemp -d); cd "$W"
SSH="ssh -i $KEY -o UserKnownHostsFile=$KH -o StrictHostKeyChecking=yes -o BatchMode=yes"
SCP="scp -q -i $KEY -o UserKnownHostsFile=$KH -o StrictHostKeyChecking=yes -o BatchMode=yes"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
  -subj "/CN=plain CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -subj "/CN=$H" \
  -keyout domain.key -out domain.csr 2>/dev/null
printf "subjectAltName=IP:%s\n" "$H" > san.ext
openssl x509 -req -in domain.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -sha256 \
  -extfile san.ext -out domain.crt 2>/dev/null
htpasswd -b -B -c registry_passwd plainuser plainpass 2>/dev/null
cat > config.yml <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :$PORT
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
auth:
  htpasswd:
    realm: basic-realm
    path: /auth/registry_passwd
EOF
cat > Dockerfile <<EOF
FROM $BASE
COPY registry /usr/bin/registry
ENTRYPOINT ["/usr/bin/registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
EOF
$SCP -P 22 root@$H:$BIN registry
$SSH root@$H "mkdir -p /plain/certs /plain/auth /plain/ctx /plain/data"
$SCP domain.crt domain.key root@$H:/plain/certs/
$SCP registry_passwd root@$H:/plain/auth/
$SCP config.yml Dockerfile registry root@$H:/plain/ctx/
$SSH root@$H "docker build -q -t plain-registry /plain/ctx >/dev/null && docker run -d --restart=always \
  -p $PORT:$PORT -v /plain/certs:/certs -v /plain/auth:/auth -v /plain/data:/var/lib/registry \
  -v /plain/ctx/config.yml:/etc/docker/registry/config.yml --name plain-registry plain-registry >/dev/null"
for h in $H $OTHERS; do
  $SSH root@$h "mkdir -p /etc/docker/certs.d/$H:$PORT"
  $SCP ca.crt root@$h:/etc/docker/certs.d/$H:$PORT/ca.crt
done
for i in $(seq 1 50); do curl -s -o /dev/null --cacert ca.crt https://$H:$PORT/v2/ && break; sleep 0.2; done
for h in $H $OTHERS; do echo plainpass | $SSH root@$h "docker login -u plainuser --password-stdin $H:$PORT >/dev/null"; done
$SSH root@$H "docker tag $BASE $H:$PORT/plain/base:1 && docker push -q $H:$PORT/plain/base:1 >/dev/null"
for h in $OTHERS; do $SSH root@$h "docker pull -q $H:$PORT/plain/base:1 >/dev/null"; done
curl -s --cacert ca.crt -u plainuser:plainpass https://$H:$PORT/v2/_catalog
rm -rf "$W"
"""


def main() -> int:
    from lab.context import LabContext

    print("powerops foundation benchmark (separate lab 'b' on 10.250.78.0/24)", flush=True)
    subprocess.run([*POWEROPS, "lab", "down", "--only", "foundation"], capture_output=True)
    up_s, _ = timed("lab bring-up (3 Docker hosts + build host)", lambda: subprocess.run(
        [*POWEROPS, "lab", "up", "--only", "foundation"], check=True, capture_output=True))
    subprocess.run([*POWEROPS, "lab", "blocks", "--only", "foundation"], check=True, capture_output=True)
    from flows.build_base_image import BaseImageParams, build_base_image
    from flows.stand_up_registry import RegistryParams, stand_up_registry
    from lab.demo import ensure_demo_secret

    cache = tempfile.mkdtemp(prefix="powerops-bench-rootfs-", dir="/var/tmp")
    p = BaseImageParams(build_host="lab-build", target_host="lab-dock1", tag="bench/debian:bookworm", cache_dir=cache)
    first_s, first = timed("first base image build (debootstrap, import, test)", lambda: build_base_image(p))
    cached_s, again = timed("cached re-run of the same build", lambda: build_base_image(p))
    for node in ("dock2", "dock3"):
        build_base_image(BaseImageParams(build_host="lab-build", target_host=f"lab-{node}",
                                         tag="bench/debian:bookworm", cache_dir=cache))
    lab = LabContext()
    secret = ensure_demo_secret(lab)
    reg_s, reg = timed("stand-up-registry flow (dock1, trust+proof on 3)", lambda: stand_up_registry(RegistryParams(
        registry_host="lab-dock1", password_secret=secret, base_image="bench/debian:bookworm",
        trust_hosts=["lab-dock2", "lab-dock3"])))
    # plain script on dock2 (registry) with dock1, dock3 as the other hosts
    kh = Path(tempfile.mkstemp(prefix="kh-")[1])
    from lab import docker_hosts, sshd

    kh.write_text("".join(f"{ip} {sshd.host_public_key(lab, n)}\n" for n, ip in docker_hosts.DOCKER_NODES.items()))
    script = Path(tempfile.mkstemp(prefix="plain-registry-", suffix=".sh")[1])
    script.write_text(textwrap.dedent(PLAIN))
    ips = docker_hosts.DOCKER_NODES
    plain_s, res = timed("same registry steps as a plain shell script (dock2)", lambda: subprocess.run(
        ["bash", str(script), ips["dock2"], "5000", str(lab.client_key_path), str(kh), "bench/debian:bookworm",
         "/usr/bin/docker-registry", ips["dock1"], ips["dock3"]], capture_output=True, text=True))
    if res.returncode != 0:
        print(f"  plain script failed: {res.stderr[-800:]}")
    print()
    print(f"lab bring-up:            {up_s:7.1f} s   (target < 90 s)")
    print(f"first image build:       {first_s:7.1f} s   ({first['action']})")
    print(f"cached re-run:           {cached_s:7.1f} s   = {100 * cached_s / first_s:.1f}% of first (target <= 5%)"
          f"   ({again['action']})")
    print(f"registry flow:           {reg_s:7.1f} s   catalog={reg['catalog']}")
    print(f"plain script:            {plain_s:7.1f} s   ratio flow/plain = {reg_s / plain_s:.2f}x (target <= 1.3x)"
          f"   catalog={res.stdout.strip()}")
    t0 = time.monotonic()
    subprocess.run([*POWEROPS, "lab", "down", "--only", "foundation"], capture_output=True)
    subprocess.run(["rm", "-rf", ENV["POWEROPS_LAB_DIR"], ENV["POWEROPS_LAB_RUN"]])
    subprocess.run(["rm", "-rf", cache, str(kh), str(script)])
    print(f"lab teardown:            {time.monotonic() - t0:7.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
