"""Errors of the mirror area (subclasses of the powerops hierarchy)."""

from __future__ import annotations

from core.errors import InvalidInput, PowerOpsError


class MirrorError(PowerOpsError):
    """A mirror run failed; the published mirror was left as it was."""


class UpstreamError(MirrorError):
    """The upstream repository answered with an error or is unreachable."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")


class SignatureInvalid(MirrorError):
    """The upstream's Release/repomd signature is missing, bad or made by a key not in the keyring."""


class ChecksumMismatch(MirrorError):
    """A downloaded file's size or SHA256 differs from what the signed index says."""

    def __init__(self, path: str, expected: str, got: str) -> None:
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(f"{path}: checksum mismatch (index says {expected}, got {got})")


class IndexMissing(MirrorError):
    """An index the mirror needs (Packages, primary.xml) is not listed or not served upstream."""


class MalformedIndex(MirrorError, InvalidInput):
    """An index file cannot be parsed."""


class UpstreamTLSError(UpstreamError):
    """The upstream's https certificate could not be verified (unknown CA, wrong host name, expired, ...)."""
