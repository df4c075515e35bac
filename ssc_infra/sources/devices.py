"""The devices of a partner: its device list (devices/*.csv) read into Devices, each row
checked against its kind (a laptop's WireGuard key, a thin client's MAC and site), its person
and the rest of the region (one shared DHCP, RADIUS and VPN configuration serves all partners,
so an asset tag, a MAC or a key is listed once in the whole region).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from datetime import date
from ipaddress import IPv4Network
from itertools import compress, repeat
from pathlib import Path

from ssc_infra.core.errors import Problem, quoted
from ssc_infra.core.model import (
    ASSET_TAG_PATTERN,
    EMPLOYEE_ID_PATTERN,
    Device,
    DeviceKind,
    Person,
    Site,
)
from ssc_infra.core.workplaces import reservation_offsets, reservation_site
from ssc_infra.sources.csvfile import RowProblems, open_csv
from ssc_infra.sources.people import EMPLOYEE_ID_HINT
from ssc_infra.sources.problems import did_you_mean, identifier_problem
from ssc_infra.sources.regionfiles import PartnerDoc
from ssc_infra.sources.schema import is_mac, is_wireguard_key

DEVICE_COLUMNS = ("asset_tag", "kind", "employee_id", "site", "mac", "wg_public_key")
_DEVICE_KINDS = {k.value: k for k in DeviceKind}
_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_ASSET_TAG = re.compile(ASSET_TAG_PATTERN)
_UNIQUE = {"asset_tag": "asset tag", "mac": "MAC address", "wg_public_key": "WireGuard key"}
_OR_NONE = {"": None}  # `_OR_NONE.get(value, value)`: an empty optional value is None


class DeviceReader:
    """Reads the partners' device lists, one partner at a time.

    Args:
        root: the inventory folder.
        problems: where every problem found is added, under the partner's code.
        unchecked_sites: the site codes of partner files that failed their checks: a device
            at one of them is not reported again.
        employee_ids: every employee id in each partner's HR export, bad rows included
            (`PeopleReader.employee_ids`), to tell a device's person.
        cut_short: the partners whose HR export stopped at an unreadable row
            (`PeopleReader.cut_short`): a device of someone not read is not reported.
    """

    def __init__(self, root: Path, problems: list[Problem], unchecked_sites: Set[str],
                 employee_ids: Mapping[str, Set[str]], cut_short: Set[str] = frozenset()
                 ) -> None:
        self.root = root
        self.problems = problems
        self.unchecked_sites = unchecked_sites
        self.employee_ids = employee_ids
        self.cut_short = cut_short
        # Values unique in the whole region: value -> where it was first seen, its file and line.
        self._seen: dict[str, dict[str, tuple[str, int]]] = {column: {} for column in _UNIQUE}

    def read(self, p: PartnerDoc, sites: dict[str, Site]) -> list[Device]:
        """The devices of partner file `p` whose rows have no problem."""
        if p.spec.devices is None:
            return []
        opened = open_csv(self.root, p, "devices", DEVICE_COLUMNS, self.problems)
        if opened is None:
            return []
        rel, rows = opened
        code = p.spec.code
        own = self.employee_ids.get(code, set())
        usable = {s.code for s in sites.values() if s.partner == code or s.shared}
        usable |= self.unchecked_sites
        table = rows.table()
        if table is not None:
            taken = self._fit_table(code, table, own, usable, rel)
            if taken is not None:
                return taken
        devices: list[Device] = []
        for line, row in rows.tuples():
            # Most rows pass every check: taken in one go; any other gets the worded checks.
            device = None if row is None else self._fit(code, row, own, usable, (rel, line))
            if device is not None:
                devices.append(device)
                continue
            v = None if row is None else rows.as_dict(row)
            bad = RowProblems(self.problems, rel, line, code)
            if v is None:
                bad(*rows.shape_problem)
                continue
            kind = _DEVICE_KINDS.get(v["kind"])
            unfit = _check_device_fields(bad, v)
            if kind is None:
                bad(f"unknown kind {quoted(v['kind'])}", "kind is laptop or thin_client")
            if "employee_id" not in unfit and v["employee_id"] not in own \
                    and code not in self.cut_short:
                others = sorted(c for c, ids in self.employee_ids.items()
                                if c != code and v["employee_id"] in ids)
                if others:
                    bad(f"employee {v['employee_id']!r} is not a person of {code!r} but of "
                        f"{', '.join(others)}",
                        "a device belongs to a person of its own partner: move the row to "
                        "that partner's devices file")
                else:
                    bad(f"no person with employee_id {quoted(v['employee_id'])} in {code!r}",
                        f"check the id against {p.spec.people}")
            # A key, MAC or site that the kind does not use must still be fit for its column:
            # every value of a Device is trusted downstream.
            if (kind is DeviceKind.LAPTOP or v["wg_public_key"]) \
                    and not is_wireguard_key(v["wg_public_key"]):
                bad(f"malformed WireGuard public key {quoted(v['wg_public_key'])}",
                    "paste the key `wg pubkey` printed: 44 base64 characters ending in '='")
            if (kind is DeviceKind.THIN_CLIENT or v["mac"]) and not is_mac(v["mac"].lower()):
                bad(f"malformed MAC address {quoted(v['mac'])}", "write it as aa:bb:cc:dd:ee:ff")
            if (kind is DeviceKind.THIN_CLIENT or v["site"]) and v["site"] not in usable:
                what = "a thin client" if kind is DeviceKind.THIN_CLIENT else "a device"
                bad(f"unknown site {quoted(v['site'])} for {what}",
                    did_you_mean(v["site"], sorted(usable)) or f"{what} stands at a site of "
                    "this partner or a shared flex site")
            if bad.count or kind is None:
                continue
            self._check_unique(bad, (rel, line), v)
            if bad.count:
                continue
            devices.append(Device(
                code, v["asset_tag"], kind, v["employee_id"], v["site"] or None,
                v["mac"].lower() or None, v["wg_public_key"] or None,
            ))
        if rows.error is not None:
            self.problems.append(Problem(rel, *rows.error, code))
        return devices

    def _fit_table(self, code: str, table: list[tuple[str, ...]], own: Set[str],
                   usable: Set[str], rel: str) -> list[Device] | None:
        """The devices of a whole list (`Rows.table()`: columns in DEVICE_COLUMNS order) when
        every row passes every check `read` words, recorded as seen; None when any row fails
        one (then nothing is recorded).

        The checks of `_fit`, a column at a time, each distinct value judged once. As strict
        as the worded checks or stricter: a list turned away here is read again row by row.
        """
        tag, kind_text, employee_id, site, mac_text, key = table
        mac = tuple(map(str.lower, mac_text))
        kinds = set(kind_text)
        if not kinds <= _DEVICE_KINDS.keys() or not set(employee_id) <= own \
                or not all(map(_ASSET_TAG.fullmatch, tag)) \
                or not all(map(_EMPLOYEE_ID.fullmatch, set(employee_id))):
            return None
        keys = list(compress(key, key))
        macs = list(compress(mac, mac))
        if not all(map(is_wireguard_key, keys)) or not all(map(is_mac, macs)) \
                or not {s for s in site if s} <= usable:
            return None
        laptop, thin = DeviceKind.LAPTOP.value, DeviceKind.THIN_CLIENT.value
        # What a kind needs: a laptop its key, a thin client its MAC and site.
        if (laptop in kinds and not all(k for t, k in zip(kind_text, key, strict=True)
                                        if t == laptop)) \
                or (thin in kinds and not all(m and s for t, m, s in zip(
                    kind_text, mac, site, strict=True) if t == thin)):
            return None
        seen = self._seen
        tags, seen_macs, seen_keys = seen["asset_tag"], seen["mac"], seen["wg_public_key"]
        if len(set(tag)) != len(tag) or len(set(macs)) != len(macs) \
                or len(set(keys)) != len(keys) or not tags.keys().isdisjoint(tag) \
                or not seen_macs.keys().isdisjoint(macs) \
                or not seen_keys.keys().isdisjoint(keys):
            return None
        where = list(zip(repeat(rel), range(2, len(tag) + 2), strict=False))
        tags.update(zip(tag, where, strict=True))
        seen_macs.update(zip(macs, compress(where, mac), strict=True))
        seen_keys.update(zip(keys, compress(where, key), strict=True))
        return list(map(Device, repeat(code), tag, map(_DEVICE_KINDS.__getitem__, kind_text),
                        employee_id, map(_OR_NONE.get, site, site), map(_OR_NONE.get, mac, mac),
                        map(_OR_NONE.get, key, key)))

    def _fit(self, code: str, row: tuple[str, ...], own: Set[str], usable: Set[str],
             where: tuple[str, int]) -> Device | None:
        """The device of a row (DEVICE_COLUMNS order) that passes every check `read` words,
        recorded as seen at `where`; None when any fails (then `read` words what is wrong).

        As strict as the worded checks or stricter: a row turned away here is looked at
        again, a row let through is never looked at again.
        """
        tag, kind_text, employee_id, site, mac_text, key = row
        kind = _DEVICE_KINDS.get(kind_text)
        mac = mac_text.lower()
        if kind is None or employee_id not in own or not _ASSET_TAG.fullmatch(tag) \
                or not _EMPLOYEE_ID.fullmatch(employee_id):
            return None
        thin = kind is DeviceKind.THIN_CLIENT
        if ((kind is DeviceKind.LAPTOP or key) and not is_wireguard_key(key)) \
                or ((thin or mac) and not is_mac(mac)) or ((thin or site) and site not in usable):
            return None
        tags, macs, keys = self._seen["asset_tag"], self._seen["mac"], self._seen["wg_public_key"]
        if tag in tags or (mac and mac in macs) or (key and key in keys):
            return None
        tags[tag] = where
        if mac:
            macs[mac] = where
        if key:
            keys[key] = where
        return Device(code, tag, kind, employee_id, site or None, mac or None, key or None)

    def _check_unique(self, bad: RowProblems, where: tuple[str, int],
                      values: dict[str, str]) -> None:
        for column, seen in self._seen.items():
            value = values[column].lower() if column == "mac" else values[column]
            if not value:
                continue
            first = seen.setdefault(value, where)
            if first != where:
                bad(f"duplicate {_UNIQUE[column]} {values[column]!r}, also at "
                    f"{first[0]}:{first[1]}",
                    "every device is listed once in the region: one shared DHCP, RADIUS and "
                    "VPN configuration serves all partners")


def _check_device_fields(bad: RowProblems, values: dict[str, str]) -> set[str]:
    """Check the asset tag and employee id of a device row; returns the columns that failed."""
    failed: set[str] = set()
    tag = values["asset_tag"]
    if not tag:
        bad("empty asset_tag", "every device needs an asset tag")
        failed.add("asset_tag")
    elif not _ASSET_TAG.fullmatch(tag):
        bad(f"invalid asset_tag {quoted(tag)}: {identifier_problem(tag, 32)}",
            "letters, digits and '-', starting with a letter or digit, at most 32 characters "
            "(it becomes the DHCP host name)")
        failed.add("asset_tag")
    employee_id = values["employee_id"]
    if not _EMPLOYEE_ID.fullmatch(employee_id):
        bad(f"invalid employee_id {quoted(employee_id)}: {identifier_problem(employee_id, 16)}",
            EMPLOYEE_ID_HINT)
        failed.add("employee_id")
    return failed


def check_site_capacity(partners: Sequence[PartnerDoc], sites: Mapping[str, Site],
                        people: Mapping[str, Sequence[Person]],
                        devices: Mapping[str, Sequence[Device]], today: date) -> list[Problem]:
    """Each site's subnet holds a reservation for every thin client DHCP reserves there.

    A thin client reserves in the subnet of its site, or of its partner's first site when it
    stands at another partner's shared flex site (`core.workplaces.reservation_site`), so a
    site's reservations are its own partner's: a site too small is a problem of that partner
    (held back), not an error of the whole region's host files. Counted as the host files
    count them but for the start date: a thin client of everyone not yet left on `today`
    (a starter months ahead counts already, as their device is on the list).
    """
    found: list[Problem] = []
    for p in partners:
        code = p.spec.code
        own = [sites[e.code] for e in p.spec.sites if sites.get(e.code, None) is not None
               and sites[e.code].partner == code]
        theirs = devices.get(code, ())
        if not own or not theirs:
            continue
        thin = [d for d in theirs if d.kind is DeviceKind.THIN_CLIENT and d.mac and d.site]
        room = {s.code: _room(s.subnet) for s in own}
        if all(n <= room[at] for at, n in _by_site(thin, own).items()):
            continue  # every one fits, leavers' too: the common case, the people not read
        current = {person.employee_id for person in people.get(code, ())
                   if (end := person.end_date) is None or end >= today}
        counts = _by_site([d for d in thin if d.employee_id in current], own)
        for index, entry in enumerate(p.spec.sites):
            need = counts.get(entry.code, 0)
            first, last = reservation_offsets(entry.subnet)
            if need > _room(entry.subnet):
                found.append(Problem(
                    p.doc.file, p.doc.line(("sites", index, "subnet")),
                    f"site {entry.code}: {need} thin clients need a DHCP reservation in "
                    f"{entry.subnet}, which holds {last - first + 1} (offsets {first}-{last}; "
                    "the first quarter is the dynamic pool)",
                    "give the site a larger subnet, or place fewer thin clients there", code))
    return found


def _room(subnet: IPv4Network) -> int:
    """How many thin clients' reservations a site's subnet holds."""
    first, last = reservation_offsets(subnet)
    return last - first + 1


def _by_site(thin_clients: Sequence[Device], own: Sequence[Site]) -> Counter[str]:
    """How many of these thin clients of one partner reserve at each of its sites."""
    return Counter(reservation_site(own, d.site or "").code for d in thin_clients)
