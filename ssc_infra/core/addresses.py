"""Stable address allocation: a device keeps its address across runs. Pure, no I/O.

VPN peers and DHCP reservations need an address per device. Numbering devices in order would
renumber everyone after an insertion, so each device starts at a slot chosen by a hash of its
key and probes forward to the next free one. Addresses that were handed out before (kept in the
state directory by apply) are honoured first, so a new device never moves an existing one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network

from ssc_infra.core.errors import SscError


class AddressError(SscError):
    """A range is too small for the devices that need an address in it."""


def allocate(
    keys: Iterable[str],
    network: IPv4Network,
    first: int,
    last: int,
    existing: Mapping[str, IPv4Address] | None = None,
    hint: str = "give the site a larger subnet",
) -> dict[str, IPv4Address]:
    """An address for every key, within offsets [first, last] of `network`.

    Args:
        keys: the devices (or any stable identifiers) that need an address.
        network: the network the addresses are in.
        first: the lowest offset in the network to hand out (leaves room for gateways).
        last: the highest offset to hand out (inclusive).
        existing: addresses handed out before; kept when still in range and not taken twice.
        hint: what to do when the range is too small.

    Raises:
        AddressError: when the range has fewer free addresses than there are keys.
    """
    wanted = sorted(set(keys))
    size = last - first + 1
    if len(wanted) > size:
        raise AddressError(
            f"{network}: {len(wanted)} devices need an address but offsets {first}-{last} hold "
            f"only {size}; {hint}"
        )
    base = int(network.network_address)
    taken: dict[int, str] = {}
    result: dict[str, IPv4Address] = {}
    for key in wanted:  # earlier hand-outs first, in a fixed order
        address = (existing or {}).get(key)
        if address is None:
            continue
        offset = int(address) - base
        if first <= offset <= last and offset not in taken:
            taken[offset] = key
            result[key] = address
    for key in wanted:
        if key in result:
            continue
        offset = first + _slot(key, size)
        while offset in taken:
            offset = first + (offset - first + 1) % size
        taken[offset] = key
        result[key] = IPv4Address(base + offset)
    return result


def _slot(key: str, size: int) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % size
