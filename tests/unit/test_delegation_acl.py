"""The partner delegation's access-control entries in a DACL's binary form (pure): added
before the first inherited entry, never twice, and a damaged descriptor refused, not written."""

from __future__ import annotations

import struct
import uuid

import pytest

from ssc_infra.ad.delegation import (
    CONTAINER_INHERIT_ACE,
    INHERITED_ACE,
    add_aces,
    delegation_aces,
    object_ace,
)

SID = bytes([1, 1, 0, 0, 0, 0, 0, 5, 11, 0, 0, 0])  # S-1-5-11, Authenticated Users
OTHER = bytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])  # S-1-5-18, SYSTEM
USER = uuid.UUID("bf967aba-0de6-11d0-a285-00aa003049e2")
GROUP = uuid.UUID("bf967a9c-0de6-11d0-a285-00aa003049e2")


def _descriptor(*aces: bytes) -> bytes:
    body = b"".join(aces)
    acl = struct.pack("<BBHHH", 4, 0, 8 + len(body), len(aces), 0) + body
    return struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 20) + acl


def _aces(descriptor: bytes) -> list[bytes]:
    count = struct.unpack_from("<H", descriptor, 24)[0]
    found, offset = [], 28
    for _ in range(count):
        size = struct.unpack_from("<H", descriptor, offset + 2)[0]
        found.append(descriptor[offset:offset + size])
        offset += size
    return found


def test_the_entries_go_before_the_inherited_ones_and_only_once() -> None:
    explicit = object_ace(0x10, 0, OTHER, object_type=USER)
    inherited = object_ace(0x10, INHERITED_ACE | CONTAINER_INHERIT_ACE, OTHER)
    new = delegation_aces(SID, [USER, GROUP])
    assert len(new) == 4
    result, added = add_aces(_descriptor(explicit, inherited), new)
    assert added == 4
    assert _aces(result) == [explicit, *new, inherited]
    assert struct.unpack_from("<H", result, 22)[0] == 8 + sum(len(a) for a in _aces(result))
    again, added = add_aces(result, new)
    assert (again, added) == (result, 0)


@pytest.mark.parametrize("descriptor", [
    b"", b"\x01" * 19,
    struct.pack("<BBHIIII", 1, 0, 0x8000, 0, 0, 0, 0),  # no DACL
    _descriptor(object_ace(0x10, 0, OTHER))[:-4],  # cut off in an entry
])
def test_a_damaged_descriptor_is_refused_not_rewritten(descriptor: bytes) -> None:
    with pytest.raises(ValueError):
        add_aces(descriptor, delegation_aces(SID, [USER]))
