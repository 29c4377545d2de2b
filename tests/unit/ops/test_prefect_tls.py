"""seams.prefect_tls: Prefect API clients share one verified TLS context per CA file (each used to parse the
whole CA bundle, ~25 ms of CPU); an insecure context is never shared and never leaks into a verified client.
Real Prefect clients are built (nothing is connected): if Prefect changes how it builds them, this fails."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import prefect.client.orchestration as orchestration
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.settings import PREFECT_API_TLS_INSECURE_SKIP_VERIFY, temporary_settings

from seams.prefect_tls import share_tls_context

API = "http://127.0.0.1:9/api"


def tls_context(client: PrefectClient | SyncPrefectClient) -> ssl.SSLContext:
    return client._client._transport._pool._ssl_context  # type: ignore[no-any-return]


def test_clients_share_one_verified_context():
    assert share_tls_context() and share_tls_context()  # idempotent
    a, b, c = PrefectClient(API), PrefectClient(API), SyncPrefectClient(API)
    assert tls_context(a) is tls_context(b) is tls_context(c)
    assert tls_context(a).verify_mode == ssl.CERT_REQUIRED and tls_context(a).check_hostname
    assert tls_context(a).cert_store_stats()["x509_ca"] > 50  # the CA bundle really is loaded


def test_a_different_ca_file_gets_its_own_context(tmp_path):
    share_tls_context()
    pem = tmp_path / "ca.pem"
    pem.write_text(Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    shared = orchestration.ssl.create_default_context(cafile=certifi.where())
    own = orchestration.ssl.create_default_context(cafile=str(pem))
    assert own is not shared and own.cert_store_stats()["x509_ca"] == 1
    assert orchestration.ssl.create_default_context(cafile=str(pem)) is own


def test_insecure_contexts_are_never_shared():
    share_tls_context()
    verified = tls_context(PrefectClient(API))
    with temporary_settings(updates={PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        x, y = PrefectClient(API), PrefectClient(API)
    assert tls_context(x) is not tls_context(y)
    assert tls_context(x).verify_mode == ssl.CERT_NONE
    after = tls_context(PrefectClient(API))
    assert after is verified and after.verify_mode == ssl.CERT_REQUIRED and after.check_hostname
