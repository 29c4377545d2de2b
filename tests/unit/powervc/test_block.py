"""The PowerVC block from a clouds.yaml entry (the seed's powervcrc values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.powervc import PowerVC

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_from_clouds_yaml(tmp_path: Path) -> None:
    ca = tmp_path / "powervc.crt"
    ca.write_text(PEM)
    text = f"""
clouds:
  powervc:
    region_name: RegionOne
    cacert: {ca}
    auth:
      auth_url: https://powervc.example:5000/v3/
      username: root
      password: root-pw
      project_name: ibm-default
      user_domain_name: Default
      project_domain_name: Default
"""
    block = PowerVC.from_clouds_yaml(text, "powervc")
    p = block.params()
    assert (p.auth_url, p.username, p.project_name, p.ca_cert) == (
        "https://powervc.example:5000/v3", "root", "ibm-default", PEM)
    assert "root-pw" not in repr(block) and "root-pw" not in block.model_dump_json()
    assert block.nova_conf_path == "/etc/nova/nova.conf"
    with pytest.raises(ValueError):
        PowerVC.from_clouds_yaml(text, "other")


def test_auth_url_must_be_http_s() -> None:
    with pytest.raises(ValueError):
        PowerVC(auth_url="powervc.example:5000", password="x")
