"""Values into config syntax: one Jinja2 filter per format, which escapes or refuses.

Every value a template writes passes a filter made for the place it goes: a quoted RADIUS
string, an smb.conf section name, a WireGuard key, a JSON value. A value the format can hold is
escaped; a value it cannot hold safely (a line break in an smb.conf value, a `#` in a WireGuard
value, a `%` that Samba or FreeRADIUS would expand) is refused with `UnsafeValue`, and the whole
render stops: a refused render is better than a config with a section or a peer injected.
The loader checks fields too; this does not rely on it. `finalize` refuses any control character
that an unfiltered expression would still write.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ssc_infra.core.errors import SscError

# FreeRADIUS reads its users file in lines of at most 8 KiB and parses the rest of a longer line
# as a new one; other parsers have no such limit, but no comment needs more than this.
COMMENT_MAX = 200
VALUE_MAX = 1000
RADIUS_MAX = 253  # octets of one RADIUS attribute
SHARE_MAX = 80  # the longest share name Windows clients show

# C0 controls, DEL, and what Python's splitlines (and editors) take for a line break.
_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x1f\x7f]")
_SHARE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class UnsafeValue(SscError):
    """A value that its file's format cannot hold safely; the renderer says which file."""

    def __init__(self, field: str, partner: str, value: object, reason: str) -> None:
        self.field, self.partner, self.reason = field, partner, reason
        shown = repr(str(value))
        self.shown = shown if len(shown) <= 60 else f"{shown[:50]}...' ({len(str(value)):,} chars)"
        owner = f"partner {partner}" if partner else "region"
        super().__init__(f"{owner}: {field} {self.shown} {reason}")


def _text(value: object, field: str, partner: str, limit: int, fmt: str) -> str:
    text = str(value)
    if len(text) > limit:
        raise UnsafeValue(field, partner, value,
                          f"is longer than the {limit} characters {fmt} takes here")
    return text


def _no_breaks(text: str, field: str, partner: str, fmt: str) -> str:
    found = _BREAKS.search(text)
    if found:
        raise UnsafeValue(field, partner, text,
                          f"holds a control character or line break (U+{ord(found.group()):04X}),"
                          f" which {fmt} cannot hold")
    return text


def _refuse(text: str, chars: str, field: str, partner: str, why: str) -> str:
    bad = sorted({c for c in text if c in chars})
    if bad:
        raise UnsafeValue(field, partner, text, f"holds {' '.join(bad)}, {why}")
    return text


def _pattern(text: str, pattern: re.Pattern[str], field: str, partner: str, what: str) -> str:
    if not pattern.fullmatch(text):
        raise UnsafeValue(field, partner, text, f"is not {what}")
    return text


def comment(value: object, field: str, partner: str = "") -> str:
    """Text after `#` on one line (smb.conf, wg0.conf, the RADIUS users file): line breaks and
    other control characters are shown escaped (`\\n`), so the comment stays one line."""
    text = _text(value, field, partner, COMMENT_MAX, "a comment")
    return _BREAKS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def smb_value(value: object, field: str, partner: str = "") -> str:
    """The right-hand side of `name = value` in smb.conf, which has no quoting at all."""
    text = _no_breaks(_text(value, field, partner, VALUE_MAX, "smb.conf"), field, partner,
                      "an smb.conf value")
    _refuse(text, "%", field, partner, "which Samba expands (%U, %S...)")
    if text.endswith("\\"):
        raise UnsafeValue(field, partner, text,
                          "ends in a backslash, which joins the next smb.conf line to it")
    return text


def smb_path(value: object, field: str, partner: str = "") -> str:
    """A folder in smb.conf: absolute, no `..`, nothing Samba expands or reads as syntax."""
    text = smb_value(value, field, partner)
    _refuse(text, '"\\', field, partner, "which an smb.conf path must not hold")
    if not text.startswith("/") or "/../" in f"{text}/":
        raise UnsafeValue(field, partner, text, "is not an absolute path without `..`")
    return text


def smb_section(value: object, field: str, partner: str = "") -> str:
    """An smb.conf share name (inside `[...]`): letters, digits, `.`, `_`, `-`."""
    text = _text(value, field, partner, SHARE_MAX, "a share name")
    return _pattern(text, _SHARE, field, partner,
                    "a share name (letters, digits, `.`, `_` and `-`)")


def smb_word(value: object, field: str, partner: str = "") -> str:
    """A workgroup, realm or group name where smb.conf reads it as a word or inside quotes."""
    text = _text(value, field, partner, 255, "smb.conf")
    return _pattern(text, _WORD, field, partner, "a name of letters, digits, `.` and `-`")


def wg_key(value: object, field: str, partner: str = "") -> str:
    """A WireGuard key: base64 of 32 bytes, nothing else."""
    text = str(value)
    try:
        ok = len(text) == 44 and len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise UnsafeValue(field, partner, text,
                          "is not a WireGuard key (base64 of 32 bytes, as `wg pubkey` prints)")
    return text


def wg_value(value: object, field: str, partner: str = "") -> str:
    """The right-hand side of `Key = value` in wg0.conf, where `#` starts a comment."""
    text = _no_breaks(_text(value, field, partner, VALUE_MAX, "wg0.conf"), field, partner,
                      "a wg0.conf value")
    return _refuse(text, "#\\", field, partner, "which wg-quick reads as syntax")


def radius_string(value: object, field: str, partner: str = "") -> str:
    """A double-quoted string of the FreeRADIUS users file, quotes included."""
    text = _no_breaks(str(value), field, partner, "a RADIUS string")
    if len(text.encode()) > RADIUS_MAX:
        raise UnsafeValue(field, partner, text,
                          f"is longer than the {RADIUS_MAX} octets a RADIUS attribute holds")
    _refuse(text, "%", field, partner, "which FreeRADIUS expands (%{...})")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def radius_realm(value: object, field: str, partner: str = "") -> str:
    """A sign-in domain as a regular expression that matches it literally (`.` as `[.]`)."""
    text = _text(value, field, partner, RADIUS_MAX - 2, "a RADIUS realm")
    _pattern(text, _DOMAIN, field, partner, "a domain name (letters, digits, `-` and `.`)")
    return text.replace(".", "[.]")


def hostname(value: object, field: str, partner: str = "") -> str:
    """A DNS host name that DHCP hands out: lower-case labels of letters, digits and `-`."""
    text = _text(value, field, partner, 253, "a host name")
    if not all(_LABEL.fullmatch(label) for label in text.split(".")):
        raise UnsafeValue(field, partner, text,
                          "is not a host name (labels of a-z, 0-9 and `-`, at most 63 each)")
    return text


def vlan(value: object, field: str, partner: str = "") -> str:
    """A VLAN id: 1-4094."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4094:
        raise UnsafeValue(field, partner, value, "is not a VLAN id (1-4094)")
    return str(value)


def to_json(value: Any) -> str:
    """Any value as JSON. Non-ASCII stays UTF-8: Kea refuses `\\u` escapes above U+00FF."""
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, IPv4Address | IPv4Network):
        return str(value)
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def finalize(value: Any) -> Any:
    """The last net: an expression that no filter escaped writes no control character."""
    if isinstance(value, str):
        found = _CONTROLS.search(value)
        if found:
            raise UnsafeValue("a value", "", value,
                              f"holds a control character (U+{ord(found.group()):04X}) that no "
                              "filter escaped")
    return value


FILTERS: dict[str, Callable[..., str]] = {
    "comment": comment, "smb_value": smb_value, "smb_path": smb_path,
    "smb_section": smb_section, "smb_word": smb_word, "wg_key": wg_key, "wg_value": wg_value,
    "radius_string": radius_string, "radius_realm": radius_realm, "hostname": hostname,
    "vlan": vlan, "json": to_json,
}
