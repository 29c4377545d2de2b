"""Post-install logic (pure): repository keys, apt policy parsing, the install plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.novalink import postinstall

KEYS = Path(__file__).resolve().parents[2] / "fixtures" / "novalink" / "postinstall"

# recorded on the lab host (apt 2.6.2) before and after the install
POLICY_BEFORE = """\
pvm-novalink:
  Installed: (none)
  Candidate: 1.0.0.3-lab1
  Version table:
     1.0.0.3-lab1 500
        500 http://10.250.77.70/export/mirror/nova/debian novalink_1.0.0/non-free amd64 Packages
rsct.core:
  Installed: (none)
  Candidate: 3.2.2.0-lab1
  Version table:
     3.2.2.0-lab1 500
        500 http://10.250.77.70/export/mirror/rsct/ubuntu xenial/main amd64 Packages
rsct.basic:
  Installed: 3.2.1.0-1
  Candidate: 3.2.2.0-lab1
  Version table:
     3.2.2.0-lab1 500
        500 http://10.250.77.70/export/mirror/rsct/ubuntu xenial/main amd64 Packages
 *** 3.2.1.0-1 100
        100 /var/lib/dpkg/status
"""
POLICY_NO_SOURCE = """\
pvm-novalink:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


def test_parse_apt_policy():
    assert postinstall.parse_apt_policy(POLICY_BEFORE) == {
        "pvm-novalink": (None, "1.0.0.3-lab1"),
        "rsct.core": (None, "3.2.2.0-lab1"),
        "rsct.basic": ("3.2.1.0-1", "3.2.2.0-lab1"),
    }
    assert postinstall.parse_apt_policy(POLICY_NO_SOURCE) == {"pvm-novalink": (None, None)}
    assert postinstall.parse_apt_policy("") == {}  # apt-cache policy prints nothing for unknown names


def test_plan_installs_missing_and_older_only():
    policy = postinstall.parse_apt_policy(POLICY_BEFORE)
    assert postinstall.packages_to_install(policy, ["pvm-novalink", "rsct.core", "rsct.basic"]) == \
        ["pvm-novalink", "rsct.core", "rsct.basic"]
    done = {p: (c, c) for p, (_, c) in policy.items()}
    assert postinstall.packages_to_install(done, ["pvm-novalink", "rsct.core"]) == []


def test_plan_refuses_packages_the_mirror_lacks():
    with pytest.raises(InvalidInput, match="pvm-novalink"):
        postinstall.packages_to_install(postinstall.parse_apt_policy(POLICY_NO_SOURCE), ["pvm-novalink"])
    with pytest.raises(InvalidInput, match="rsct.core"):
        postinstall.packages_to_install({}, ["rsct.core"])


def test_dearmor_matches_gpg_dearmor():
    armored = (KEYS / "lab-repo-key.asc").read_text()
    assert postinstall.dearmor(armored) == (KEYS / "lab-repo-key.gpg").read_bytes()  # made by gpg --dearmor


def test_dearmor_refuses_damaged_keys():
    armored = (KEYS / "lab-repo-key.asc").read_text()
    lines = armored.splitlines()
    body = next(i for i, ln in enumerate(lines) if ln.startswith("mDME") or (i > 2 and ln and ln[0] != "="))
    damaged = lines.copy()
    damaged[body] = damaged[body][:10] + ("A" if damaged[body][10] != "A" else "B") + damaged[body][11:]
    with pytest.raises(InvalidInput, match="CRC-24"):
        postinstall.dearmor("\n".join(damaged))
    with pytest.raises(InvalidInput, match="armored"):
        postinstall.dearmor("<html>404 Not Found</html>")


def test_repo_keys_and_paths():
    urls = postinstall.repo_key_urls("http://nim/export/novalink/", "novalink-gpg-pub.key", "")
    assert urls == {"pvm": "http://nim/export/novalink/nova/debian/novalink-gpg-pub.key"}
    assert postinstall.repo_key_urls("http://nim", "", "https://k/rsct.asc") == {"rsct": "https://k/rsct.asc"}
    with pytest.raises(InvalidInput):
        postinstall.repo_key_urls("http://nim", "../etc/passwd", "")
    assert postinstall.repo_key_path("pvm") == "/etc/apt/trusted.gpg.d/powerops-pvm.gpg"
    with pytest.raises(InvalidInput):
        postinstall.repo_key_path("other")
