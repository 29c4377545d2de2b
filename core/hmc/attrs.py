"""The HMC's attribute text format, both directions.

HMC list commands print one object per line as ``attr=value`` tokens separated by commas. A token whose value
contains a comma is wrapped in double quotes as a whole (``"backing_devices=a,b"``) and a double quote inside
such a token is doubled (``""``). ``-F a,b,c`` prints only the values, joined by the delimiter found between
the attribute names (``-F name:state`` gives ``lpar1:Running``); with a comma delimiter values containing a
comma are quoted the same way. The same tokenizer reads ``-a``/``-i`` input (``backing_devices="x,y"`` or
``"backing_devices+=x,y"``) and ``--filter`` (``"lpar_names=a,b",slots=6``).
"""

from __future__ import annotations

import re

from core.errors import InvalidInput

_ATTR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def split_tokens(text: str, delimiter: str = ",") -> list[str]:
    """Split on ``delimiter`` outside double quotes; quotes are removed, ``""`` inside quotes is a quote."""
    tokens: list[str] = []
    cur: list[str] = []
    in_q = False
    i = 0
    n = len(text)
    dl = len(delimiter)
    while i < n:
        ch = text[i]
        if ch == '"':
            if in_q and i + 1 < n and text[i + 1] == '"':
                cur.append('"')
                i += 2
                continue
            in_q = not in_q
            i += 1
            continue
        if not in_q and text.startswith(delimiter, i):
            tokens.append("".join(cur))
            cur = []
            i += dl
            continue
        cur.append(ch)
        i += 1
    if in_q:
        raise InvalidInput(f"unbalanced double quote in HMC attribute text: {text!r}")
    tokens.append("".join(cur))
    return tokens


def parse_attr_line(line: str) -> dict[str, str]:
    """``a=1,"b=x,y",c=`` -> {'a': '1', 'b': 'x,y', 'c': ''}."""
    out: dict[str, str] = {}
    for tok in split_tokens(line.rstrip("\r\n")):
        if not tok:
            continue
        name, sep, value = tok.partition("=")
        if not sep:
            raise InvalidInput(f"HMC output token without '=': {tok!r}")
        out[name] = value
    return out


def parse_attr_input(text: str) -> list[tuple[str, str, str]]:
    """``-a`` text -> [(name, op, value)] where op is '=', '+=' or '-='."""
    out: list[tuple[str, str, str]] = []
    for tok in split_tokens(text):
        if not tok:
            continue
        m = re.match(r"^([a-z][a-z0-9_]*)(\+=|-=|=)(.*)$", tok, re.S)
        if not m:
            raise InvalidInput(f"invalid attribute assignment {tok!r}")
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def quote_token(token: str, delimiter: str = ",") -> str:
    """Quote a token the way the HMC does when it contains the delimiter or a quote."""
    if delimiter in token or '"' in token:
        return '"' + token.replace('"', '""') + '"'
    return token


def format_attr_line(pairs: list[tuple[str, str]]) -> str:
    return ",".join(quote_token(f"{k}={v}") for k, v in pairs)


def field_delimiter(spec: str) -> tuple[list[str], str]:
    """``-F`` spec -> (attribute names, delimiter). ``name:state`` -> (['name','state'], ':')."""
    names = re.findall(r"[a-z][a-z0-9_]*", spec)
    seps = [s for s in re.split(r"[a-z][a-z0-9_]*", spec) if s]
    if not names or re.sub(r"[a-z][a-z0-9_]*", "", spec) != "".join(seps):
        raise InvalidInput(f"invalid -F attribute list {spec!r}")
    if len(names) == 1:
        return names, ","
    if len(set(seps)) != 1 or len(seps) != len(names) - 1:
        raise InvalidInput(f"-F attribute list {spec!r} must use one delimiter between every name")
    return names, seps[0]


def build_field_spec(names: list[str], delimiter: str) -> str:
    for n in names:
        if not _ATTR_NAME.fullmatch(n):
            raise InvalidInput(f"invalid HMC attribute name {n!r}")
    if re.search(r"[a-z0-9_\s'\"\\]", delimiter) or not delimiter:
        raise InvalidInput(f"invalid -F delimiter {delimiter!r}")
    return delimiter.join(names)


def parse_field_line(line: str, names: list[str], delimiter: str) -> dict[str, str]:
    values = split_tokens(line.rstrip("\r\n"), delimiter)
    if len(values) != len(names):
        raise InvalidInput(f"expected {len(names)} fields separated by {delimiter!r}, got {len(values)}: {line!r}")
    return dict(zip(names, values, strict=True))


def format_field_line(values: list[str], delimiter: str) -> str:
    return delimiter.join(quote_token(v, delimiter) for v in values)


def parse_filter(text: str) -> dict[str, list[str]]:
    """``"lpar_names=a,b",slots=6`` -> {'lpar_names': ['a','b'], 'slots': ['6']}."""
    out: dict[str, list[str]] = {}
    for tok in split_tokens(text):
        if not tok:
            continue
        name, sep, value = tok.partition("=")
        if not sep or not _ATTR_NAME.fullmatch(name):
            raise InvalidInput(f"invalid filter {tok!r}")
        out.setdefault(name, []).extend(v for v in value.split(",") if v)
    return out


def build_filter(filters: dict[str, list[str]]) -> str:
    parts = []
    for name, values in filters.items():
        if not _ATTR_NAME.fullmatch(name):
            raise InvalidInput(f"invalid filter name {name!r}")
        tok = f"{name}={','.join(values)}"
        parts.append(quote_token(tok))
    return ",".join(parts)


NO_RESULTS = "No results were found."


def is_no_results(text: str) -> bool:
    return text.strip() == NO_RESULTS or text.strip().endswith(NO_RESULTS)


def records(text: str) -> list[dict[str, str]]:
    """Every line of a default-format listing as a dict ('No results were found.' -> [])."""
    if is_no_results(text):
        return []
    return [parse_attr_line(line) for line in text.splitlines() if line.strip()]


def field_records(text: str, names: list[str], delimiter: str) -> list[dict[str, str]]:
    if is_no_results(text):
        return []
    return [parse_field_line(line, names, delimiter) for line in text.splitlines() if line.strip()]
