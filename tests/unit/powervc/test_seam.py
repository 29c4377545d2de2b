"""seams.openstack without a network: TLS settings, error translation, no secrets in reprs or messages."""

from __future__ import annotations

import os

import pytest
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from core.errors import AuthenticationFailed, HostUnreachable, InvalidInput
from core.powervc.errors import ApiError, ApiForbidden, ApiNotFound, ApiOverQuota
from seams.openstack import OpenStackParams, translate_errors, verify_setting

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def params(**kw) -> OpenStackParams:  # type: ignore[no-untyped-def]
    base = dict(auth_url="https://powervc.example:5000/v3", username="root", password="s3cret-pw",
                project_name="ibm-default")
    base.update(kw)
    return OpenStackParams(**base)  # type: ignore[arg-type]


def test_https_with_ca_verifies_against_that_file() -> None:
    v = verify_setting(params(ca_cert=PEM))
    assert isinstance(v, str) and os.path.exists(v)
    with open(v) as fh:
        assert fh.read() == PEM
    assert os.stat(v).st_mode & 0o077 == 0  # private temp file
    assert verify_setting(params(ca_cert=PEM)) == v  # reused


def test_without_ca_the_system_store_is_used_never_false() -> None:
    assert verify_setting(params()) is True


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInput):
        verify_setting(params(auth_url="ftp://x"))
    with pytest.raises(InvalidInput):
        verify_setting(params(ca_cert="not a pem"))


def test_password_not_in_repr_and_with_user_keeps_endpoint() -> None:
    p = params(ca_cert=PEM)
    assert "s3cret" not in repr(p)
    t = p.with_user("hb01_admin", "other-pw", "hb01")
    assert (t.auth_url, t.ca_cert, t.project_name) == (p.auth_url, PEM, "hb01")
    assert "other-pw" not in repr(t)


class FakeResponse:
    def __init__(self, status: int, text: str) -> None:
        self.status_code = status
        self.text = text
        self.headers: dict[str, str] = {}
        self.reason = ""

    def json(self) -> dict[str, str]:
        return {}


@pytest.mark.parametrize(("status", "detail", "cls"), [
    (403, "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.", ApiForbidden),
    (404, "Aggregate 9 could not be found.", ApiNotFound),
    (413, "VolumeLimitExceeded: Maximum number of volumes allowed (0) exceeded for quota 'volumes_svc2'.",
     ApiOverQuota),
    (400, "Invalid input", ApiError),
])
def test_http_errors_are_translated(status: int, detail: str, cls: type) -> None:
    with pytest.raises(cls) as info, translate_errors("powervc.example", "create volume"):
        raise sdk_exc.HttpException(message="x", details=detail, http_status=status)
    assert info.value.status == status and detail in str(info.value)


def test_auth_and_transport_errors() -> None:
    with pytest.raises(AuthenticationFailed) as info, translate_errors("powervc.example", "authenticate"):
        raise ksa_exc.Unauthorized("The request you have made requires authentication.")
    assert "s3cret" not in str(info.value)
    with pytest.raises(HostUnreachable, match="TLS verification failed"), translate_errors("h", "authenticate"):
        raise ksa_exc.SSLError("certificate verify failed")
    with pytest.raises(HostUnreachable), translate_errors("h", "authenticate"):
        raise ksa_exc.ConnectFailure("refused")


def test_sdk_wrapped_ssl_error_is_a_tls_failure() -> None:
    with pytest.raises(HostUnreachable, match="TLS verification failed"), translate_errors("h", "authenticate"):
        try:
            raise ksa_exc.SSLError("certificate verify failed")
        except ksa_exc.SSLError as exc:
            raise sdk_exc.SDKException("SSL exception connecting to https://h:5000/v3/auth/tokens") from exc
