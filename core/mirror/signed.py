"""OpenPGP pieces the mirror needs without a crypto library: the clearsigned body of an InRelease file,
dearmoring a public key, and the verdict of ``gpgv --status-fd`` (the real verifier runs at the task level).

Status lines are documented in GnuPG's doc/DETAILS ("Format of the status codes").
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from core.mirror.errors import MalformedIndex, SignatureInvalid

_BEGIN_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_BEGIN_SIG = "-----BEGIN PGP SIGNATURE-----"
_END_SIG = "-----END PGP SIGNATURE-----"
_FPR = re.compile(r"^[0-9A-F]{40}$|^[0-9A-F]{64}$")


def is_clearsigned(data: bytes) -> bool:
    return data.lstrip().startswith(_BEGIN_SIGNED.encode())


def clearsigned_body(text: str) -> str:
    """The signed text of a clearsigned message (dash-escaping undone).

    Refuses anything outside the armor (text before the header or after the signature), the trick that
    smuggles unsigned content past a verifier into a parser.
    """
    lines = text.splitlines()
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != _BEGIN_SIGNED:
        raise MalformedIndex("not a clearsigned message (no BEGIN PGP SIGNED MESSAGE header)")
    i += 1
    while i < len(lines) and lines[i].strip():  # armor headers (Hash: ...)
        if ":" not in lines[i]:
            raise MalformedIndex(f"malformed armor header {lines[i]!r}")
        i += 1
    i += 1
    body: list[str] = []
    while i < len(lines) and lines[i].rstrip() != _BEGIN_SIG:
        line = lines[i]
        if line.startswith("- "):
            line = line[2:]
        elif line.startswith("-"):
            raise MalformedIndex(f"clearsigned text has an unescaped dash line {line!r}")
        body.append(line)
        i += 1
    if i >= len(lines):
        raise MalformedIndex("clearsigned message has no signature block")
    end = next((j for j in range(i, len(lines)) if lines[j].rstrip() == _END_SIG), None)
    if end is None:
        raise MalformedIndex("clearsigned message: signature block not terminated")
    if any(line.strip() for line in lines[end + 1:]):
        raise MalformedIndex("clearsigned message has text after the signature")
    return "\n".join(body) + "\n"


def dearmor(data: bytes) -> bytes:
    """ASCII-armored OpenPGP block -> binary (gpgv wants binary keyrings). Binary input is returned as is."""
    text = data.decode("ascii", errors="replace")
    if "-----BEGIN PGP" not in text:
        return data
    out = bytearray()
    for block in re.findall(r"-----BEGIN PGP [A-Z ]+-----\r?\n(.*?)-----END PGP [A-Z ]+-----", text, re.S):
        payload = block.split("\n\n", 1)[1] if re.match(r"^[A-Za-z-]+: ", block) else block
        b64 = "".join(ln.strip() for ln in payload.splitlines() if ln.strip() and not ln.startswith("="))
        try:
            out += base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise MalformedIndex(f"armored key is not valid base64: {exc}") from None
    if not out:
        raise MalformedIndex("armored text contains no OpenPGP block")
    return bytes(out)


@dataclass(frozen=True)
class SignatureVerdict:
    """What gpgv said about a signature."""

    valid: bool
    fingerprints: tuple[str, ...] = ()  # primary key fingerprints of the good signatures
    problems: tuple[str, ...] = field(default_factory=tuple)


_BAD = {
    "BADSIG": "bad signature (the data was modified or the signature is forged)",
    "EXPKEYSIG": "signed with an expired key",
    "REVKEYSIG": "signed with a revoked key",
    "EXPSIG": "the signature has expired",
    "NO_PUBKEY": "signed by a key that is not in the configured keyring",
    "NODATA": "no signature data found",
    "BADARMOR": "the armor is corrupt",
}


def parse_gpgv_status(status: str, exit_code: int) -> SignatureVerdict:
    """Verdict from gpgv's ``--status-fd`` lines: valid only if every signature is GOODSIG+VALIDSIG."""
    good: list[str] = []
    goodsig = 0
    problems: list[str] = []
    for line in status.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        parts = line[9:].split()
        if not parts:
            continue
        code = parts[0]
        if code == "GOODSIG":
            goodsig += 1
        elif code == "VALIDSIG" and len(parts) >= 2:
            primary = parts[-1] if len(parts) >= 11 else parts[1]
            if _FPR.match(primary.upper()):
                good.append(primary.upper())
        elif code == "ERRSIG":
            keyid = parts[1] if len(parts) > 1 else "?"
            rc = parts[6] if len(parts) > 6 else "?"
            problems.append(f"cannot check signature by key {keyid} (rc {rc}: "
                            f"{'key not in keyring' if rc == '9' else 'unusable signature'})")
        elif code in _BAD:
            detail = " ".join(parts[1:2])
            problems.append(f"{_BAD[code]}" + (f" ({detail})" if detail else ""))
    if exit_code != 0 and not problems:
        problems.append(f"gpgv exited {exit_code}")
    # apt's rule: one good signature by a keyring key suffices (archives are signed by several keys and a
    # keyring may hold only some); a BAD, expired or revoked signature spoils everything.
    fatal = [p for p in problems if not p.startswith(("cannot check signature", _BAD["NO_PUBKEY"]))]
    if good:
        problems = fatal
    valid = goodsig > 0 and len(good) > 0 and not fatal and (exit_code == 0 or bool(good))
    if exit_code not in (0, 2):  # 1: bad signature; 2: some signature could not be checked
        valid = False
    return SignatureVerdict(valid=valid, fingerprints=tuple(dict.fromkeys(good)), problems=tuple(problems))


def require_valid(verdict: SignatureVerdict, what: str, allowed_fingerprints: list[str] | None = None) -> str:
    """Raise SignatureInvalid unless the verdict is good (and by an allowed key); returns the fingerprint."""
    if not verdict.valid:
        raise SignatureInvalid(f"{what}: signature refused: {'; '.join(verdict.problems) or 'no good signature'}")
    if allowed_fingerprints:
        allowed = {f.replace(" ", "").upper() for f in allowed_fingerprints}
        ok = [f for f in verdict.fingerprints if f in allowed]
        if not ok:
            raise SignatureInvalid(f"{what}: signed by {', '.join(verdict.fingerprints)}, "
                                   f"which is not one of the allowed keys")
        return ok[0]
    return verdict.fingerprints[0]
