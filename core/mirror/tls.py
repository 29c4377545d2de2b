"""Trust for https upstreams signed by a private CA: checking the PEM a user gives, wording TLS failures."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from core.errors import InvalidInput

_BEGIN_CERT = "-----BEGIN CERTIFICATE-----"


def check_ca_pem(text: str) -> list[str]:
    """The subjects of the certificates in ``text`` (PEM); refuses anything else (a key, DER, garbage).

    The certificates are trust anchors for an upstream: a private CA (or a self-signed server certificate).
    """
    if "PRIVATE KEY" in text:
        raise InvalidInput("the CA field holds a private key: give only the CA certificate (PEM), never a key")
    if _BEGIN_CERT not in text:
        raise InvalidInput("no PEM certificate found (expected '-----BEGIN CERTIFICATE-----' blocks)")
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise InvalidInput(f"unreadable PEM certificate: {exc}") from None
    return [_name(c) for c in certs]


def _name(cert: x509.Certificate) -> str:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


def tls_failure(detail: str) -> str:
    """What to tell the user when an upstream's certificate is refused (the error names the URL)."""
    return (f"TLS certificate of the upstream not trusted: {detail} (an upstream with a private CA needs its CA "
            "certificate in a powerops-mirror-upstream-ca block, given as upstream_ca_block)")
