"""htpasswd files with bcrypt entries (the registry's htpasswd auth accepts $2b$ / $2y$ hashes)."""

from __future__ import annotations

import re

import bcrypt

from core.errors import InvalidInput

_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def validate_user(user: str) -> str:
    if not _USER.match(user):
        raise InvalidInput(f"invalid registry user name {user!r}: 1-64 of letters, digits, . _ @ -")
    return user


def make_entry(user: str, password: str, rounds: int = 10) -> str:
    validate_user(user)
    if not password:
        raise InvalidInput(f"empty password for registry user {user!r}")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    return f"{user}:{hashed}\n"


def parse(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            user, _, hashed = line.partition(":")
            entries[user] = hashed.strip()
    return entries


def verify(text: str, user: str, password: str) -> bool:
    """True if ``text`` holds a bcrypt entry for ``user`` that matches ``password``."""
    hashed = parse(text).get(user)
    if not hashed or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return False
    try:
        return bool(bcrypt.checkpw(password.encode(), hashed.replace("$2y$", "$2b$", 1).encode()))
    except ValueError:
        return False
