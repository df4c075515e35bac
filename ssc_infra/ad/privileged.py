"""The privileged groups, watched (BIO 8.02.01, 5.18.01): who is in Domain Admins, Enterprise
Admins, Schema Admins, Account Operators and every group governance.yaml names, against who
belongs there.

`read_privileged` does the I/O (a search for the groups, then one for each group's direct
members by `memberOf`); `privileged_drift` is pure and turns each difference into drift of its
own kind (`Unmanaged.privileged`): a member nobody listed, a listed member who is gone, a
watched group that cannot be found. The tool never writes these groups: a change made outside
it is found, reported first, and the nightly check exits 2 until the list or the group is put
right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import ldap3
from ldap3.utils.conv import escape_filter_chars

from ssc_infra.ad.parse import filetime_day, first_value
from ssc_infra.ad.read import Reader
from ssc_infra.core.governance import GOVERNANCE_FILE
from ssc_infra.core.plan import Unmanaged


@dataclass(frozen=True, slots=True)
class PrivilegedGroup:
    """A watched group as the directory holds it."""

    name: str
    dn: str
    members: tuple[str, ...]  # the direct members' sAMAccountNames (accounts and groups)
    # member -> the day of its last logon ("" never), for the quarterly review
    last_logons: Mapping[str, str] = field(default_factory=dict)


def read_privileged(conn: ldap3.Connection, base_dn: str,
                    names: Iterable[str]) -> dict[str, PrivilegedGroup]:
    """The watched groups found in the domain, by lowercase name, with their direct members."""
    wanted = sorted({n.lower(): n for n in names}.values())
    if not wanted:
        return {}
    reader = Reader(conn)
    query = "(&(objectClass=group)(|" + "".join(
        f"(sAMAccountName={escape_filter_chars(n)})" for n in wanted) + "))"
    found: dict[str, PrivilegedGroup] = {}
    for entry in reader.search(base_dn, query, ("sAMAccountName",)):
        name = first_value(entry, "sAMAccountName")
        members = reader.search(base_dn, f"(memberOf={escape_filter_chars(entry['dn'])})",
                                ("sAMAccountName", "lastLogonTimestamp"))
        logons = {first_value(m, "sAMAccountName"):
                  filetime_day(first_value(m, "lastLogonTimestamp")) for m in members}
        found[name.lower()] = PrivilegedGroup(name, entry["dn"], tuple(sorted(logons)), logons)
    return found


def privileged_drift(found: Mapping[str, PrivilegedGroup],
                     expected: Mapping[str, tuple[str, ...]]) -> list[Unmanaged]:
    """Every difference between the watched groups and who belongs in them (pure)."""
    drift: list[Unmanaged] = []
    for name, members in sorted(expected.items()):
        group = found.get(name.lower())
        if group is None:
            drift.append(Unmanaged("", name, f"the privileged group {name!r} is not in the "
                                   f"directory: check its name in {GOVERNANCE_FILE}",
                                   key=name, privileged=True))
            continue
        want = {m.lower(): m for m in members}
        have = {m.lower(): m for m in group.members}
        for member in sorted(set(have) - set(want)):
            drift.append(Unmanaged("", group.dn, f"{have[member]} is a member of {group.name}, "
                                   f"and {GOVERNANCE_FILE} does not list it: take it out, or "
                                   "add it there (a reviewed change)", key=group.name,
                                   label=have[member], privileged=True))
        for member in sorted(set(want) - set(have)):
            drift.append(Unmanaged("", group.dn, f"{want[member]} is listed for {group.name} in "
                                   f"{GOVERNANCE_FILE} and is not a member: put it back, or "
                                   "take it from the list", key=group.name,
                                   label=want[member], privileged=True))
    return drift
