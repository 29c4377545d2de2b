"""Private-CA trust for https upstreams: the CA field, and how a refused certificate is reported."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from blocks.mirror import MirrorUpstreamCA
from core.errors import InvalidInput
from core.mirror.errors import UpstreamError, UpstreamTLSError
from core.mirror.tls import check_ca_pem
from core.mirror.web import render_nginx
from lab.mirror.tls import ensure_ca
from seams.mirror_http import request_error, tls_problem


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return ensure_ca(tmp_path_factory.mktemp("ca"))


def test_ca_pem_accepted_and_named(ca) -> None:  # type: ignore[no-untyped-def]
    pem = ca.ca_pem.read_text()
    assert check_ca_pem(pem) == ["powerops lab private CA"]
    assert check_ca_pem(pem + ca.rogue_ca_pem.read_text()) == ["powerops lab private CA", "powerops lab rogue CA"]
    block = MirrorUpstreamCA(ca_pem="\n" + pem + "\n\n")
    assert block.ca_pem == pem.strip() + "\n"
    ssl.create_default_context(cadata=block.ca_pem)  # what seams.http does with it


@pytest.mark.parametrize(("text", "message"), [
    ("", "no PEM certificate"),
    ("not a certificate", "no PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "unreadable PEM certificate"),
])
def test_ca_pem_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_ca_pem(text)
    with pytest.raises(ValueError, match=message):
        MirrorUpstreamCA(ca_pem=text)


def test_private_key_is_never_taken(ca) -> None:  # type: ignore[no-untyped-def]
    key = ca.server_key.read_text()
    with pytest.raises(InvalidInput, match="private key"):
        check_ca_pem(ca.ca_pem.read_text() + key)


def _verify_error(message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message} "
                                          "(_ssl.c:992)")
    err.verify_message = message
    return err


def test_certificate_failures_are_named_with_the_upstream() -> None:
    url = "https://mirror.example/debian/dists/bookworm/InRelease"
    exc = httpx.ConnectError(str(_verify_error("unable to get local issuer certificate")))
    exc.__cause__ = _verify_error("unable to get local issuer certificate")
    err = request_error(url, exc)
    assert isinstance(err, UpstreamTLSError)
    assert str(err).startswith(f"{url}: TLS certificate of the upstream not trusted: unable to get local issuer "
                               "certificate")
    assert "powerops-mirror-upstream-ca" in str(err)

    # httpx sometimes keeps only the text of the ssl error
    text_only = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
                                   "certificate is not valid for 'mirror.example'. (_ssl.c:1006)")
    assert tls_problem(text_only) == "Hostname mismatch, certificate is not valid for 'mirror.example'."

    plain = request_error(url, httpx.ConnectError("[Errno 111] Connection refused"))
    assert type(plain) is UpstreamError and "Connection refused" in str(plain)


def test_nginx_https_site(fixtures: Path) -> None:
    text = render_nginx("/srv/upstream", "127.0.0.1:18473", "/run/up", published=False, purpose="lab upstream",
                        tls_listen="127.0.0.1:18474", tls_cert="/srv/tls/server.pem", tls_key="/srv/tls/server.key")
    assert text == (fixtures / "golden" / "nginx-tls.conf").read_text()
    with pytest.raises(InvalidInput, match="TLS key"):
        render_nginx("/srv/upstream", "127.0.0.1:18473", "/run/up", tls_listen="127.0.0.1:18474",
                     tls_cert="/srv/tls/server.pem", tls_key="key; include /etc/shadow")


def test_one_tls_context_per_trust_anchor(ca) -> None:  # type: ignore[no-untyped-def]
    """Building a context reads the whole system store (~50 ms): clients share one per trust anchor."""
    from seams.http import http_client, ssl_context

    pem, rogue = ca.ca_pem.read_text(), ca.rogue_ca_pem.read_text()
    assert ssl_context() is ssl_context(None)
    assert ssl_context(pem) is ssl_context(pem) and ssl_context(pem) is not ssl_context(rogue)
    assert ssl_context(pem).cert_store_stats()["x509_ca"] == 1  # only the private CA, not the system store
    with http_client(pem) as a, http_client(pem) as b:
        assert a._transport._pool._ssl_context is b._transport._pool._ssl_context is ssl_context(pem)
    assert ssl_context().verify_mode == ssl.CERT_REQUIRED and ssl_context().check_hostname
