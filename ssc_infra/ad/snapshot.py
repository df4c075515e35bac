"""The directory read once in full, then only what changed since (uSNChanged).

Every object AD changes gets the DC's next update sequence number in `uSNChanged`. A full
read records the DC (its NTDS settings and invocation id) and its highest committed USN
before it starts, and keeps what it read: the OUs, the users and groups of the partner OUs,
and each group's members by GUID. A later read on the same DC asks only for the objects
changed since that USN and for the objects deleted since (the tombstones), and folds them in:
a user moved or renamed keeps its GUID, so the groups that hold it follow; a deleted one
leaves every group. Microsoft documents this as "polling for changes using uSNChanged".

A full read is made instead when there is no kept read, when it is for another DC or scope,
older than `MAX_AGE` (tombstones expire), or when an OU moved (its children move without a
USN of their own). `plan` reads this way; `apply` and `drift` always read in full.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

from ssc_infra.ad.parse import parse_account, parse_group
from ssc_infra.ad.read import GROUP_ATTRIBUTES, USER_ATTRIBUTES, USERS_FILTER, Reader
from ssc_infra.ad.scope import Scope, partner_ous
from ssc_infra.core.actual import DirectoryAccount, DirectoryGroup, DirectoryState
from ssc_infra.core.dn import dn_key, is_within, split_dn
from ssc_infra.core.errors import BackendError
from ssc_infra.state.folder import write_private

SNAPSHOT = "directory-snapshot.json"
MAX_AGE = timedelta(days=7)
NORMAL_USER = "805306368"  # sAMAccountType of a normal user account
# Member values (and entry DNs) as <GUID=...>;<SID=...>;dn, so a member can be followed.
EXTENDED_DN = ("1.2.840.113556.1.4.529", False, None)
SHOW_DELETED = ("1.2.840.113556.1.4.417", True, None)
_NAMES = {n.lower(): n for n in (*USER_ATTRIBUTES, *GROUP_ATTRIBUTES, "objectClass",
                                 "sAMAccountType")}

Open = Callable[[], ldap3.Connection]


@dataclass
class Entry:
    """One object as read: its GUID, DN, kind ("ou", "user", "group") and attributes."""

    guid: str
    dn: str
    kind: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    members: list[tuple[str, str]] = field(default_factory=list)  # (GUID, DN) per member

    def raw(self, dns: Mapping[str, str]) -> dict[str, Any]:
        """As a raw LDAP entry, each member at the DN its GUID has now."""
        return {"dn": self.dn, "attributes": {**self.attributes,
                                              "member": [dns.get(g, d) for g, d in self.members]}}


@dataclass
class Snapshot:
    server: str  # the DC's NTDS settings DN and invocation id: USNs are per DC
    usn: int  # the DC's highest committed USN before the read began
    scope: list[str]
    taken: str  # when (ISO, UTC)
    entries: dict[str, Entry]
    round_trips: int = 0


def read(open_connection: Open, scope: Scope, workers: int, state: Path | None,
         full: bool) -> DirectoryState:
    """The directory's state: from the kept read and what changed since, or read in full."""
    if state is None or scope.partners:  # a partial read is never kept
        return state_from(read_full(open_connection, scope, workers), scope)
    if not full:
        kept = load(state, scope)
        if kept is not None:
            refreshed = refresh(open_connection, scope, kept)
            if refreshed is not None:
                if refreshed.usn != kept.usn:
                    save(state, refreshed)
                return state_from(refreshed, scope)
    snapshot = read_full(open_connection, scope, workers)
    save(state, snapshot)
    return state_from(snapshot, scope)


def read_full(open_connection: Open, scope: Scope, workers: int = 4) -> Snapshot:
    """Read OUs, then each partner's users and groups, in bulk and in parallel.

    One search for the OUs, then per partner one paged search for users and one for groups
    (members included, by GUID); partners are read on `workers` connections at once.
    """
    conn = open_connection()
    try:
        reader = Reader(conn)
        server, usn = position(conn)
        ous = reader.search(scope.base_dn, "(objectClass=organizationalUnit)", ("objectGUID",))
    finally:
        conn.unbind()
    entries = {e.guid: e for e in (_entry(raw, "ou") for raw in ous)}
    ou_dns = frozenset(dn_key(e.dn) for e in entries.values())
    wanted = [p for p in sorted(partner_ous(ou_dns, scope))
              if not scope.partners or p[0] in scope.partners]
    local = threading.local()
    opened: list[ldap3.Connection] = []
    trips = [reader.round_trips + 2]

    def read_one(item: tuple[str, str, bool]) -> tuple[list[Entry], int]:
        _, base, in_leavers = item
        if getattr(local, "reader", None) is None:
            local.reader = Reader(open_connection())
            opened.append(local.reader.conn)
        part: Reader = local.reader
        before = part.round_trips
        found = [_entry(raw, "user")
                 for raw in part.search(base, USERS_FILTER, (*USER_ATTRIBUTES, "objectGUID"))]
        if not in_leavers:
            found += [_entry(raw, "group") for raw in part.search(
                base, "(objectClass=group)", (*GROUP_ATTRIBUTES, "objectGUID"), (EXTENDED_DN,))]
        return found, part.round_trips - before

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="read") as pool:
            for found, used in pool.map(read_one, wanted):
                entries.update((e.guid, e) for e in found)
                trips.append(used)
    finally:
        for opened_conn in opened:
            with contextlib.suppress(ldap_errors.LDAPException):
                opened_conn.unbind()
    return Snapshot(server, usn, _scope_key(scope), _now(), entries, sum(trips))


def refresh(open_connection: Open, scope: Scope, kept: Snapshot) -> Snapshot | None:
    """The kept read with every change since folded in; None when a full read is needed."""
    if kept.scope != _scope_key(scope) or _now_dt() - _parse(kept.taken) > MAX_AGE:
        return None
    conn = open_connection()
    try:
        server, usn = position(conn)
        if server != kept.server or usn < kept.usn:
            return None  # another DC (or one restored): its USNs are not these
        if usn == kept.usn:
            return Snapshot(kept.server, usn, kept.scope, kept.taken, kept.entries, 2)
        reader = Reader(conn)
        since = f"(uSNChanged>={kept.usn + 1})"
        changed = reader.search(scope.base_dn, since, (*_NAMES.values(), "objectGUID"),
                                (EXTENDED_DN,))
        deleted = reader.search(scope.base_dn, f"(&(isDeleted=TRUE){since})", ("objectGUID",),
                                (SHOW_DELETED,))
        trips = reader.round_trips + 2
    finally:
        conn.unbind()
    entries = dict(kept.entries)
    moved: dict[str, str] = {}
    for raw in changed:
        kind = _kind(raw)
        entry = _entry(raw, kind)
        old = entries.get(entry.guid)
        if old is not None and old.kind == "ou" and dn_key(old.dn) != dn_key(entry.dn):
            return None  # an OU moved: the objects below it moved without a USN of their own
        moved[entry.guid] = entry.dn
        if kind == "ou" or (kind in ("user", "group") and _in_containers(entry.dn, scope)):
            entries[entry.guid] = entry
        else:
            entries.pop(entry.guid, None)
    gone = {_guid(raw) for raw in deleted}
    for guid in gone:
        entries.pop(guid, None)
    if moved or gone:
        for entry in entries.values():
            if entry.members:
                entry.members = [(g, moved.get(g, d)) for g, d in entry.members if g not in gone]
    return Snapshot(kept.server, usn, kept.scope, _now(), entries, trips)


def position(conn: ldap3.Connection) -> tuple[str, int]:
    """Which DC this is (NTDS settings DN and invocation id) and its highest committed USN."""
    found = _base(conn, "", ("highestCommittedUSN", "dsServiceName"))
    service = _text(found.get("dsServiceName"))
    invocation = _base(conn, service, ("invocationId",)).get("invocationId")
    try:
        usn = int(_text(found.get("highestCommittedUSN")))
    except ValueError as e:
        raise BackendError("the DC did not say its highestCommittedUSN") from e
    return f"{service}#{_hex(invocation)}", usn


def state_from(snapshot: Snapshot, scope: Scope) -> DirectoryState:
    """The state the tool works with: accounts and groups of each partner OU (pure)."""
    entries = snapshot.entries.values()
    ou_dns = frozenset(dn_key(e.dn) for e in entries if e.kind == "ou")
    owners = {ou: (partner, leavers) for partner, ou, leavers in partner_ous(ou_dns, scope)
              if not scope.partners or partner in scope.partners}
    dns = {e.guid: e.dn for e in entries}
    accounts: list[DirectoryAccount] = []
    groups: list[DirectoryGroup] = []
    for entry in sorted(entries, key=lambda e: dn_key(e.dn)):
        if entry.kind == "ou":
            continue
        owner = _owner(dn_key(entry.dn), owners)
        if owner is None:
            continue
        partner, in_leavers = owner
        if entry.kind == "user":
            accounts.append(parse_account(entry.raw(dns), partner, in_leavers))
        elif not in_leavers:
            groups.append(parse_group(entry.raw(dns), partner))
    taken = frozenset(a.sam.lower() for a in accounts) | frozenset(g.name.lower() for g in groups)
    return DirectoryState(ou_dns, tuple(accounts), tuple(groups), taken, snapshot.round_trips,
                          tuple(sorted({p for p, _ in owners.values()})))


# -- kept on disk ---------------------------------------------------------------------------


def save(state: Path, snapshot: Snapshot) -> None:
    """Keep the read in the state dir (0600: it holds people's names)."""
    data = {"server": snapshot.server, "usn": snapshot.usn, "scope": snapshot.scope,
            "taken": snapshot.taken,
            "entries": [[e.guid, e.dn, e.kind, e.attributes, e.members]
                        for e in snapshot.entries.values()]}
    write_private(state / SNAPSHOT, json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def load(state: Path, scope: Scope) -> Snapshot | None:
    """The kept read, or None (missing, damaged, or for another scope): then a full read."""
    try:
        data = json.loads((state / SNAPSHOT).read_text(encoding="utf-8"))
        entries = {g: Entry(g, dn, kind, attrs, [(m, d) for m, d in members])
                   for g, dn, kind, attrs, members in data["entries"]}
        snapshot = Snapshot(str(data["server"]), int(data["usn"]), list(data["scope"]),
                            str(data["taken"]), entries)
        _parse(snapshot.taken)
        if not all(isinstance(e.guid, str) and isinstance(e.dn, str) and
                   isinstance(e.attributes, dict) for e in entries.values()):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return snapshot if snapshot.scope == _scope_key(scope) else None


# -- entries --------------------------------------------------------------------------------


def split_extended(value: str) -> tuple[str, str]:
    """`<GUID=ab..>;<SID=01..>;CN=x,...` -> ("ab..", "CN=x,..."); a plain DN -> ("", dn)."""
    guid = ""
    while value.startswith("<") and ">;" in value:
        part, value = value[1:].split(">;", 1)
        if part.upper().startswith("GUID="):
            guid = part[5:].lower()
    return guid, value


def _entry(raw: Mapping[str, Any], kind: str) -> Entry:
    guid, dn = split_extended(str(raw["dn"]))
    attributes: dict[str, list[str]] = {}
    members: list[tuple[str, str]] = []
    for name, value in (raw.get("attributes") or {}).items():
        values = value if isinstance(value, list) else [value]
        if name.lower() == "member":
            members = [split_extended(_text(v)) for v in values]
        elif name.lower() == "objectguid":
            guid = guid or _hex(values[0] if values else b"")
        elif name.lower() in _NAMES:
            attributes[_NAMES[name.lower()]] = [_text(v) for v in values]
    if not guid:
        raise BackendError(f"the DC sent {dn} without its objectGUID")
    return Entry(guid, dn, kind, attributes, members)


def _kind(raw: Mapping[str, Any]) -> str:
    attributes = raw.get("attributes") or {}
    classes = {_text(c).lower() for c in _values(attributes, "objectClass")}
    if "organizationalunit" in classes:
        return "ou"
    if "group" in classes:
        return "group"
    if NORMAL_USER in {_text(v) for v in _values(attributes, "sAMAccountType")}:
        return "user"
    return "other"


def _values(attributes: Mapping[str, Any], name: str) -> list[Any]:
    for key, value in attributes.items():
        if key.lower() == name.lower():
            return value if isinstance(value, list) else [value]
    return []


def _guid(raw: Mapping[str, Any]) -> str:
    guid, _ = split_extended(str(raw["dn"]))
    values = _values(raw.get("attributes") or {}, "objectGUID")
    return guid or (_hex(values[0]) if values else "")


def _owner(key: str, owners: Mapping[str, tuple[str, bool]]) -> tuple[str, bool] | None:
    parts = split_dn(key)
    for start in range(1, len(parts)):
        found = owners.get(",".join(parts[start:]))
        if found is not None:
            return found
    return None


def _in_containers(dn: str, scope: Scope) -> bool:
    return is_within(dn, scope.partners_dn) or is_within(dn, scope.leavers_dn)


def _scope_key(scope: Scope) -> list[str]:
    return [dn_key(scope.base_dn), dn_key(scope.partners_dn), dn_key(scope.leavers_dn)]


def _base(conn: ldap3.Connection, dn: str, attributes: Sequence[str]) -> dict[str, Any]:
    try:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes))
    except ldap_errors.LDAPException as e:
        raise BackendError(f"reading {dn or 'the root DSE'} failed: {e}") from e
    found = [r for r in conn.response or () if r.get("type") == "searchResEntry"]
    return dict(found[0].get("attributes", {})) if found else {}


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _hex(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else b""
    return value.hex() if isinstance(value, bytes) else str(value or "").lower()


def _now_dt() -> datetime:
    return datetime.now(UTC)


def _now() -> str:
    return _now_dt().isoformat()


def _parse(when: str) -> datetime:
    return datetime.fromisoformat(when)
