"""Authenticating ticket deliveries: HMAC-SHA256 over ``timestamp.body`` (GitHub/Stripe style) or a bearer token.

A ticketing system signs each delivery with a shared key:

    X-Powerops-Timestamp: 1732489200
    X-Powerops-Signature: sha256=<hex HMAC-SHA256(key, "1732489200." + raw body)>

(the digest may also be base64-encoded, as ServiceNow's ``generateMac`` returns it).

The timestamp binds the signature to a moment: deliveries older (or newer) than ``tolerance`` seconds are
refused, so a captured request cannot be replayed later. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from core.ops.errors import TicketAuthError

SIGNATURE_HEADER = "X-Powerops-Signature"
TIMESTAMP_HEADER = "X-Powerops-Timestamp"
DEFAULT_TOLERANCE_S = 300


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (seconds since the epoch, as text)."""
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _b64(hex_signature: str) -> str:
    """The same digest base64-encoded (what ServiceNow's GlideCertificateEncryption.generateMac returns)."""
    return "sha256=" + base64.b64encode(bytes.fromhex(hex_signature[7:])).decode()


def verify_signature(keys: list[bytes], timestamp: str | None, body: bytes, signature: str | None,
                     now: float, tolerance: int = DEFAULT_TOLERANCE_S) -> None:
    """Raise TicketAuthError unless ``signature`` is a valid HMAC of ``body`` under one of ``keys``.

    Several keys may be valid at once (key rotation: the new one added before the old one is removed).
    """
    if not keys:
        raise TicketAuthError("no HMAC key is configured on this service")
    if not signature:
        raise TicketAuthError(f"missing {SIGNATURE_HEADER} header")
    if not timestamp:
        raise TicketAuthError(f"missing {TIMESTAMP_HEADER} header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise TicketAuthError(f"{TIMESTAMP_HEADER} must be integer seconds since the epoch") from None
    if abs(now - ts) > tolerance:
        raise TicketAuthError(f"{TIMESTAMP_HEADER} is {int(now - ts)} s away from now "
                              f"(allowed: {tolerance} s): stale or replayed delivery")
    if not signature.startswith("sha256="):
        raise TicketAuthError(f"{SIGNATURE_HEADER} must look like 'sha256=<hex>'")
    for key in keys:
        expected = sign(key, timestamp, body)
        if hmac.compare_digest(expected, signature) or hmac.compare_digest(_b64(expected), signature):
            return
    raise TicketAuthError("signature does not match the body (wrong key, or the body was altered)")


def verify_bearer(tokens: list[str], authorization: str | None) -> None:
    """Raise TicketAuthError unless ``authorization`` is ``Bearer <one of tokens>``."""
    if not tokens:
        raise TicketAuthError("no bearer token is configured on this service")
    if not authorization or not authorization.lower().startswith("bearer "):
        raise TicketAuthError("missing 'Authorization: Bearer <token>' header")
    given = authorization[7:].strip().encode()
    if not any(hmac.compare_digest(given, t.encode()) for t in tokens):
        raise TicketAuthError("bearer token not accepted")
