"""SHA-512 crypt (``$6$``), the password hash NovaLink's ``pvm-install.cfg`` and d-i preseeds expect.

A pure implementation of Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specification (the
algorithm behind glibc ``crypt()`` with ``$6$`` and ``openssl passwd -6``). No dependency on the deprecated
``crypt`` module (removed in Python 3.13) nor on passlib. The salt comes from the caller (``new_salt`` uses
``secrets``) so the function stays deterministic and testable.
"""

from __future__ import annotations

import hashlib
import secrets as _secrets

from core.errors import InvalidInput

_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ROUNDS_DEFAULT = 5000
ROUNDS_MIN = 1000
ROUNDS_MAX = 999_999_999

# Byte order of the final base64 step (from the specification).
_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)


def new_salt(length: int = 16) -> str:
    return "".join(_secrets.choice(_ALPHABET) for _ in range(length))


def _b64_from_24bit(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ALPHABET[w & 0x3F])
        w >>= 6
    return "".join(out)


def _repeat(digest: bytes, length: int) -> bytes:
    return (digest * (length // 64 + 1))[:length]


def sha512_crypt(password: str, salt: str, rounds: int | None = None) -> str:
    """``$6$[rounds=N$]salt$hash`` exactly as glibc computes it."""
    if "$" in salt or "\n" in salt or ":" in salt:
        raise InvalidInput("SHA-512 crypt salt must not contain '$', ':' or newlines")
    salt_b = salt.encode()[:16]
    pw = password.encode()
    explicit = rounds is not None
    r = ROUNDS_DEFAULT if rounds is None else max(ROUNDS_MIN, min(ROUNDS_MAX, rounds))

    b = hashlib.sha512(pw + salt_b + pw).digest()
    a = hashlib.sha512(pw + salt_b)
    a.update(_repeat(b, len(pw)))
    n = len(pw)
    while n > 0:
        a.update(b if n & 1 else pw)
        n >>= 1
    a_digest = a.digest()

    dp = hashlib.sha512(pw * len(pw)).digest()
    p = _repeat(dp, len(pw))
    ds = hashlib.sha512(salt_b * (16 + a_digest[0])).digest()
    s = _repeat(ds, len(salt_b))

    c = a_digest
    for i in range(r):
        h = hashlib.sha512()
        h.update(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()

    encoded = "".join(_b64_from_24bit(c[x], c[y], c[z], 4) for x, y, z in _ORDER)
    encoded += _b64_from_24bit(0, 0, c[63], 2)
    prefix = f"$6$rounds={r}$" if explicit else "$6$"
    return f"{prefix}{salt_b.decode()}${encoded}"


def hash_password(password: str, salt: str | None = None) -> str:
    """A new ``$6$`` hash of ``password`` (random salt unless given)."""
    if not password:
        raise InvalidInput("the admin password is empty")
    return sha512_crypt(password, salt if salt is not None else new_salt())


def verify_password(password: str, hashed: str) -> bool:
    """True if ``hashed`` (``$6$...``) is the hash of ``password``."""
    parts = hashed.split("$")
    if len(parts) < 4 or parts[1] != "6":
        return False
    if parts[2].startswith("rounds="):
        rounds: int | None = int(parts[2][7:])
        salt = parts[3]
    else:
        rounds, salt = None, parts[2]
    return _secrets.compare_digest(sha512_crypt(password, salt, rounds), hashed)


def is_sha512_crypt(value: str) -> bool:
    parts = value.split("$")
    return len(parts) >= 4 and parts[0] == "" and parts[1] == "6" and len(parts[-1]) == 86
