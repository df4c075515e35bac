"""Distinguished names: build them with escaping, split them, compare them.

One value has many spellings in a DN: the tool writes `CN=a\\=b`, a DC may hand back
`CN=a\\3Db`, and `\\C3\\A2` is `â`. DNs are therefore compared only after every RDN value
is unescaped and escaped again in one way (`canonical_dn`, `dn_key`).
"""

from __future__ import annotations

import functools
import re

_SPECIAL = set(',+"\\<>;=')
_HEX = set("0123456789abcdefABCDEF")
# A value that reads the same unescaped and escaped again: no escape, no special character,
# no leading "#" and no space at either end (nearly every value a DC hands back).
_NEEDS_ESCAPE = re.compile(r'[,+"\\<>;=]|\A[# ]| \Z')
PLAIN_VALUE = re.compile(r'[^\\,+"<>;=# ]([^\\,+"<>;=]*[^\\,+"<>;= ])?')


def escape_rdn(value: str) -> str:
    """Escape a value for use in an RDN (RFC 4514): "Boer, de" -> "Boer\\, de"."""
    if not _NEEDS_ESCAPE.search(value):
        return value
    out = []
    for index, char in enumerate(value):
        if char in _SPECIAL or (index == 0 and char in "# ") or (
            index == len(value) - 1 and char == " "
        ):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def unescape_value(value: str) -> str:
    """An RDN value as plain text: both `\\X` and `\\HH` escapes undone.

    Hex escapes are bytes of UTF-8 (`\\C3\\A2` is one `â`). Spaces at either end that are not
    escaped are not part of the value (RFC 4514 allows them around the separators).
    """
    out: list[str] = []
    pending = bytearray()  # hex-escaped bytes, decoded together once a character is whole
    kept = 0  # out[:kept] ends with an escaped character: no trailing space strips past it
    index = 0
    while index < len(value):
        char = value[index]
        pair = value[index + 1:index + 3]
        if char == "\\" and len(pair) == 2 and all(c in _HEX for c in pair):
            pending.append(int(pair, 16))
            index += 3
            continue
        if pending:
            out.append(pending.decode("utf-8", "replace"))
            pending.clear()
            kept = len(out)
        if char == "\\" and index + 1 < len(value):
            out.append(value[index + 1])
            kept = len(out)
            index += 2
            continue
        if char == " " and len(out) == 0:
            index += 1  # a leading space that was not escaped
            continue
        out.append(char)
        index += 1
    if pending:
        out.append(pending.decode("utf-8", "replace"))
        kept = len(out)
    while len(out) > kept and out[-1] == " ":
        out.pop()
    return "".join(out)


def canonical_dn(dn: str) -> str:
    """The DN with every RDN value unescaped and escaped again one way; case kept.

    `CN=Jan\\3Bde\\3DVries,OU=x` and `CN=Jan\\;de\\=Vries, OU=x` give the same string.
    Attribute types are upper case; a multi-valued RDN keeps its values in the order given.
    """
    return ",".join(_canonical_rdn(part) for part in split_dn(dn))


@functools.lru_cache(maxsize=1 << 16)
def _canonical_rdn(part: str) -> str:
    avas = []
    for ava in _split_unescaped(part, "+"):
        kind, _, value = ava.partition("=")
        if not PLAIN_VALUE.fullmatch(value):
            value = escape_rdn(unescape_value(value))
        avas.append(f"{kind.strip().upper()}={value}")
    return "+".join(avas)


@functools.lru_cache(maxsize=1 << 16)
def dn_key(dn: str) -> str:
    """A DN in the form used for comparing: canonical escaping, lowercase."""
    return canonical_dn(dn).lower()


def is_within(dn: str, container: str) -> bool:
    """Whether `dn` is `container` or lies below it, compared RDN by RDN after canonical form."""
    inner, outer = split_dn(dn_key(dn)), split_dn(dn_key(container))
    return bool(outer) and len(inner) >= len(outer) and inner[len(inner) - len(outer):] == outer


def split_dn(dn: str) -> list[str]:
    """The RDNs of a DN, escaped commas respected: "CN=a\\,b,OU=x" -> ["CN=a\\,b", "OU=x"]."""
    parts = dn.split(",") if "\\" not in dn else _split_unescaped(dn, ",")
    return [p for p in parts if p.strip()]


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    start, escaped = 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def parent_dn(dn: str) -> str:
    """The DN one level up."""
    return ",".join(split_dn(dn)[1:])


def rdn(dn: str) -> str:
    """The first RDN: "CN=Jan de Vries,OU=Users,..." -> "CN=Jan de Vries"."""
    parts = split_dn(dn)
    return parts[0] if parts else ""


def rdn_value(dn: str) -> str:
    """The unescaped value of the first RDN: "CN=Boer\\, de,OU=x" -> "Boer, de"."""
    return unescape_value(rdn(dn).split("=", 1)[-1])
