"""One TLS context for all of this process's Prefect API clients, instead of one per client.

Prefect 3.9 builds every API client (``PrefectClient``, ``SyncPrefectClient``) with
``ssl.create_default_context(cafile=<certifi bundle or PREFECT_API_SSL_CERT_FILE>)``, which parses the whole
CA bundle: ~25 ms of CPU per client, measured on the lab machine, even for an ``http://`` API. A flow run
makes two or three clients (the engine's, the one that reads the server's default result storage, the
sync one of a flow body), so this was ~50 ms of an empty flow run's ~150 ms, the largest single part.

:func:`share_tls_context` makes Prefect's client module see an ``ssl`` whose ``create_default_context``
returns one context per CA file. Only *verified* contexts made from a CA file are shared: Prefect makes the
``PREFECT_API_TLS_INSECURE_SKIP_VERIFY`` context without a CA file and then turns verification off on it, so
that one is still made fresh each time and a verified client can never get it. Nothing else changes a
context once made (httpcore sets the same ALPN list on each TLS connection). ``flows`` calls this on import.
"""

from __future__ import annotations

import ssl
import threading
import types
from typing import Any

_LOCK = threading.Lock()
_CONTEXTS: dict[tuple[Any, str], ssl.SSLContext] = {}


def _create_default_context(purpose: Any = ssl.Purpose.SERVER_AUTH, *, cafile: str | None = None,
                            capath: str | None = None, cadata: str | bytes | None = None) -> ssl.SSLContext:
    if cafile is None or capath is not None or cadata is not None:
        return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    key = (purpose, cafile)
    with _LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = _CONTEXTS[key] = ssl.create_default_context(purpose, cafile=cafile)
        return ctx


def share_tls_context() -> bool:
    """Install the shared context in Prefect's client module (idempotent). False if Prefect no longer builds
    its clients this way (then nothing is changed: clients are only slower to make)."""
    import prefect.client.orchestration as orchestration

    current = getattr(orchestration, "ssl", None)
    if isinstance(current, types.ModuleType) and current.__name__ == __name__ + ".ssl":
        return True
    if current is not ssl:
        return False
    shim = types.ModuleType(__name__ + ".ssl", "The ssl module, with create_default_context shared per CA file.")
    shim.__dict__.update({k: v for k, v in vars(ssl).items() if not k.startswith("__")})
    shim.create_default_context = _create_default_context  # type: ignore[attr-defined]
    orchestration.ssl = shim  # type: ignore[attr-defined]
    return True
