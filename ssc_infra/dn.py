"""Distinguished names: build them with escaping, split them, compare them."""

from __future__ import annotations

_SPECIAL = set(',+"\\<>;=')


def escape_rdn(value: str) -> str:
    """Escape a value for use in an RDN (RFC 4514): "Boer, de" -> "Boer\\, de"."""
    out = []
    for index, char in enumerate(value):
        if char in _SPECIAL or (index == 0 and char in "# ") or (
            index == len(value) - 1 and char == " "
        ):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def dn_key(dn: str) -> str:
    """A DN in the form used for comparing: lowercase, no spaces around separators."""
    return ",".join(part.strip() for part in split_dn(dn)).lower()


def split_dn(dn: str) -> list[str]:
    """The RDNs of a DN, escaped commas respected: "CN=a\\,b,OU=x" -> ["CN=a\\,b", "OU=x"]."""
    parts: list[str] = []
    start, escaped = 0, False
    for index, char in enumerate(dn):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(dn[start:index])
            start = index + 1
    parts.append(dn[start:])
    return [p for p in parts if p]


def parent_dn(dn: str) -> str:
    """The DN one level up."""
    return ",".join(split_dn(dn)[1:])


def rdn(dn: str) -> str:
    """The first RDN: "CN=Jan de Vries,OU=Users,..." -> "CN=Jan de Vries"."""
    parts = split_dn(dn)
    return parts[0] if parts else ""


def rdn_value(dn: str) -> str:
    """The unescaped value of the first RDN: "CN=Boer\\, de,OU=x" -> "Boer, de"."""
    value = rdn(dn).split("=", 1)[-1]
    out, escaped = [], False
    for char in value:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)
