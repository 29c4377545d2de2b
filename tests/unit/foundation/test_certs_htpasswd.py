import datetime as dt

import bcrypt
import pytest

from core import certs, htpasswd
from core.errors import InvalidInput

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


def test_ca_and_server_cert_with_sans():
    ca = certs.make_ca(now=NOW)
    srv = certs.issue_server_cert(ca, ["registry.example", "10.1.2.3"], now=NOW)
    info = certs.inspect_cert(srv.cert_pem)
    assert info.dns_names == ("registry.example",) and info.ip_addresses == ("10.1.2.3",)
    assert certs.signed_by(srv.cert_pem, ca.cert_pem)
    assert certs.key_matches(srv.cert_pem, srv.key_pem)
    assert not certs.key_matches(srv.cert_pem, ca.key_pem)
    assert certs.inspect_cert(ca.cert_pem).is_ca and not info.is_ca
    assert certs.covers(info, ["10.1.2.3", "REGISTRY.example"])
    assert not certs.covers(info, ["other.example"])
    other = certs.make_ca(now=NOW)
    assert not certs.signed_by(srv.cert_pem, other.cert_pem)
    assert 396 < info.days_left(NOW) < 398


def test_cert_refuses_bad_names():
    ca = certs.make_ca(now=NOW)
    with pytest.raises(InvalidInput):
        certs.issue_server_cert(ca, ["bad name"], now=NOW)
    with pytest.raises(InvalidInput):
        certs.issue_server_cert(ca, [], now=NOW)


def test_htpasswd_bcrypt_entry_verifies():
    entry = htpasswd.make_entry("regimguser", "s3cret", rounds=4)
    user, hashed = entry.strip().split(":", 1)
    assert user == "regimguser" and hashed.startswith("$2b$")
    assert bcrypt.checkpw(b"s3cret", hashed.encode())
    assert htpasswd.verify(entry, "regimguser", "s3cret")
    assert not htpasswd.verify(entry, "regimguser", "wrong")
    assert not htpasswd.verify(entry, "other", "s3cret")
    # apache's $2y$ prefix is accepted too
    assert htpasswd.verify(entry.replace("$2b$", "$2y$"), "regimguser", "s3cret")


@pytest.mark.parametrize("user", ["", "a:b", "a b", "x\ny"])
def test_htpasswd_refuses_bad_users(user):
    with pytest.raises(InvalidInput):
        htpasswd.make_entry(user, "pw")


def test_htpasswd_refuses_empty_password():
    with pytest.raises(InvalidInput, match="empty password"):
        htpasswd.make_entry("u", "")
