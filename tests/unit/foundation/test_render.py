from pathlib import Path

import jinja2
import pytest

from core.image import BaseImageSpec, dockerfile_for_rootfs
from core.render import render, render_string

GOLDEN = Path(__file__).parent / "golden"


def test_rootfs_dockerfile_golden():
    s = BaseImageSpec(family="debian", suite="bookworm", arch="ppc64el", mirror="http://deb.example/debian")
    text = dockerfile_for_rootfs(s)
    assert text == (GOLDEN / "rootfs.Dockerfile").read_text().replace("@KEY@", s.cache_key())


def test_registry_dockerfile_golden():
    text = render("images/registry.Dockerfile.j2", base_image="powerops/debian:bookworm", port=5000)
    assert text == (GOLDEN / "registry.Dockerfile").read_text()


def test_missing_value_is_an_error_not_empty():
    with pytest.raises(jinja2.UndefinedError):
        render("images/registry.Dockerfile.j2", port=5000)
    with pytest.raises(jinja2.UndefinedError):
        render_string("FROM {{ base_image }}")
