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
    """A DN in the form used for comparing: each RDN unescaped and escaped again one way
    (a DC answers `\\3D` where the tool wrote `\\=`), lowercase, no spaces around separators."""
    return ",".join(canonical_rdn(part) for part in split_dn(dn)).lower()


def unescape_value(value: str) -> str:
    """An RDN value without its escapes, both forms: `\\,` and hex pairs like `\\2C`."""
    out = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            pair = value[index + 1:index + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                index += 3
                continue
            out.extend(value[index + 1].encode())
            index += 2
            continue
        out.extend(char.encode())
        index += 1
    return out.decode("utf-8", errors="replace")


def canonical_rdn(part: str) -> str:
    """One RDN as `attr=value`, the value escaped in one way whatever form it came in."""
    attr, sep, value = part.strip().partition("=")
    if not sep:
        return part.strip()
    return f"{attr.strip()}={escape_rdn(unescape_value(value))}"


def within(dn: str, base: str) -> bool:
    """Is `dn` the base itself or below it? RDN by RDN, never by string suffix."""
    inner = [canonical_rdn(p).lower() for p in split_dn(dn)]
    outer = [canonical_rdn(p).lower() for p in split_dn(base)]
    return bool(outer) and len(inner) >= len(outer) and inner[len(inner) - len(outer):] == outer


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
    return unescape_value(rdn(dn).split("=", 1)[-1])
