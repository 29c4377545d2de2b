"""The one httpx client factory: TLS verified against a given CA (never disabled), errors named per host."""

from __future__ import annotations

import ssl
from typing import Any

import httpx


def ssl_context(ca_pem: str | None = None) -> ssl.SSLContext:
    """System trust store, or only ``ca_pem`` when given (a private CA)."""
    if ca_pem:
        return ssl.create_default_context(cadata=ca_pem)
    return ssl.create_default_context()


def http_client(ca_pem: str | None = None, timeout: float = 30.0, **kwargs: Any) -> httpx.Client:
    return httpx.Client(verify=ssl_context(ca_pem), timeout=timeout, follow_redirects=False, **kwargs)
