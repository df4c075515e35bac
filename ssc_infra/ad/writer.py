"""Writing to Active Directory: `AdWriter` applies a plan's changes with a few connections.

Every change is checked against the writer's scope (`ssc_infra.ad.scope.scope_refusal`) right
before it is sent, whatever the plan says. A new password is made here and handed to
`on_password` (write-ahead) before the DC has it; the plan never holds one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

from ssc_infra.ad.attributes import GLOBAL_SECURITY_GROUP
from ssc_infra.ad.connection import AdSettings, connect
from ssc_infra.ad.parse import first_value, guid_text
from ssc_infra.ad.read import USERS_FILTER, Reader
from ssc_infra.ad.scope import Scope, default_scope, scope_refusal
from ssc_infra.core.actual import UAC_ACCOUNTDISABLE, UAC_NORMAL_ACCOUNT
from ssc_infra.core.dn import canonical_dn, dn_key, parent_dn, rdn
from ssc_infra.core.errors import BackendError, SscError
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind
from ssc_infra.core.secrets import PasswordSink, new_password


@dataclass
class AdWriter:
    """Applies changes with a few parallel connections; one failed item never stops others.

    Args:
        settings: the connection settings.
        workers: parallel LDAP connections.
        on_password: receives (change, password) before an account is created or its
            password reset with it (write-ahead): the only place a password goes, and it must
            be on disk when it returns. Without it the writer creates and resets nothing.
        scope: where the writer may write (default: OU=Partners and OU=Leavers below the
            settings' base DN); a change outside it is refused, whatever the plan says.
    """

    settings: AdSettings
    workers: int = 4
    on_password: PasswordSink | None = None
    scope: Scope | None = None
    _local: threading.local = field(default_factory=threading.local)
    _opened: list[ldap3.Connection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(
        self, changes: Sequence[Change], on_result: Callable[[ItemResult], None] | None = None
    ) -> list[ItemResult]:
        """Apply a batch (the caller runs the steps of `ssc_infra.ad.apply.WRITE_STEPS`).

        OUs go one at a time, parents first. Groups and memberships go in two rounds: the
        groups, a new one added with its members in the same add where the plan gives them
        (`joined_units`), then the other memberships; within a round items run in parallel.
        """
        sequential = any(c.kind is ObjectKind.OU for c in changes)  # parents before children
        workers = 1 if sequential else max(1, self.workers)

        def run(unit: tuple[Change, ...]) -> list[ItemResult]:
            results = self._apply_joined(*unit) if len(unit) == 2 else [self._apply_one(unit[0])]
            if on_result is not None:
                for result in results:
                    on_result(result)
            return results

        results: list[ItemResult] = []
        for units in joined_units(changes):
            if workers == 1:
                results += [r for unit in units for r in run(unit)]
                continue
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ldap") as pool:
                results += [r for done in pool.map(run, units) for r in done]
        return results

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                with contextlib.suppress(ldap_errors.LDAPException):
                    conn.unbind()
            self._opened.clear()

    def _conn(self) -> ldap3.Connection:
        conn: ldap3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.settings)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def _scope(self) -> Scope:
        base = self.settings.base_dn
        return self.scope or Scope(base, f"OU=Partners,{base}", f"OU=Leavers,{base}")

    def _apply_one(self, change: Change) -> ItemResult:
        scope = self.scope or default_scope(self.settings.base_dn)
        refusal = scope_refusal(change, scope)
        if refusal is not None:
            return ItemResult(change, False, f"refused: {refusal}. The tool writes only inside "
                              "its scope; make a new plan with `ssc-infra plan`")
        try:
            conn = self._conn()
            _APPLIERS[change.kind](self, conn, _canonical(change))
        except BackendError as e:
            self._local.conn = None
            return ItemResult(change, False, str(e))
        except ldap_errors.LDAPException as e:
            self._local.conn = None  # the connection is suspect: the next item reconnects
            return ItemResult(change, False, f"lost the connection to the DC: {e}")
        return ItemResult(change, True)

    # each applier raises BackendError with the DC's answer when an operation fails

    def _ou(self, conn: ldap3.Connection, change: Change) -> None:
        _check(conn, conn.add(change.dn, ["top", "organizationalUnit"]), change)

    def _group(self, conn: ldap3.Connection, change: Change) -> None:
        if change.action is Action.CREATE:
            _check(conn, conn.add(change.dn, ["top", "group"], _group_attributes(change)),
                   change)
        else:
            description = change.after.get("description") or []
            _check(conn, conn.modify(change.dn, {"description": [(ldap3.MODIFY_REPLACE,
                                                                  description)]}), change)

    def _apply_joined(self, group: Change, members: Change) -> list[ItemResult]:
        """A new group and its first members in one add, each item's result reported; when
        either item is refused or the add fails, the two are applied one after the other as
        they would be apart (a member the DC refuses then fails the members, not the group)."""
        scope = self.scope or default_scope(self.settings.base_dn)
        if scope_refusal(group, scope) is None and scope_refusal(members, scope) is None:
            joined = _canonical(members)
            try:
                conn = self._conn()
                attributes = {**_group_attributes(group), "member": list(joined.after["add"])}
                _check(conn, conn.add(canonical_dn(group.dn), ["top", "group"], attributes),
                       group)
                return [ItemResult(group, True), ItemResult(members, True)]
            except BackendError:
                pass
            except ldap_errors.LDAPException:
                self._local.conn = None
        return [self._apply_one(group), self._apply_one(members)]

    def _members(self, conn: ldap3.Connection, change: Change) -> None:
        operations: dict[str, list[tuple[str, list[str]]]] = {"member": []}
        if change.after.get("add"):
            operations["member"].append((ldap3.MODIFY_ADD, list(change.after["add"])))
        if change.after.get("remove"):
            operations["member"].append((ldap3.MODIFY_DELETE, list(change.after["remove"])))
        _check(conn, conn.modify(change.dn, operations), change)

    def _account(self, conn: ldap3.Connection, change: Change) -> None:
        if change.action is Action.CREATE:
            self._create_account(conn, change)
            return
        if change.action is Action.DELETE:
            _delete_parked(conn, change)
            return
        dn = change.dn
        if "dn" in change.after:
            target = str(change.after["dn"])
            _check(conn, conn.modify_dn(dn, rdn(target), new_superior=parent_dn(target)), change)
            dn = target
        attributes = {k: v for k, v in change.after.items()
                      if k not in ("dn", "enabled", "password")}
        if attributes:
            modification = {k: [(ldap3.MODIFY_REPLACE, list(v) if isinstance(v, list)
                                 else [v] if v else [])]
                            for k, v in attributes.items()}
            _check(conn, conn.modify(dn, modification), change)
        if "password" in change.after:
            # The value in the plan is never a password: a new one is made here and recorded
            # before the DC has it.
            password = new_password()
            names = {k: change.before[k] for k in ("sAMAccountName", "userPrincipalName")
                     if k in change.before}
            self._record(dataclasses.replace(change, after={**names, **change.after}), password)
            _check(conn, conn.modify(dn, {
                "unicodePwd": [(ldap3.MODIFY_REPLACE, [_encode_password(password)])],
                "pwdLastSet": [(ldap3.MODIFY_REPLACE, ["0"])],
            }), change)
        if "enabled" in change.after:
            uac = int(change.before.get("uac", UAC_NORMAL_ACCOUNT))
            uac = uac & ~UAC_ACCOUNTDISABLE if change.after["enabled"] else (
                uac | UAC_ACCOUNTDISABLE)
            _check(conn, conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE,
                                                                  [str(uac)])]}), change)

    def _create_account(self, conn: ldap3.Connection, change: Change) -> None:
        password = new_password()
        # Write-ahead: a crash after the add must never leave an account nobody knows the
        # password of. When the add then fails, the recorded row names no account; the next
        # run creates it with a new password and a new row.
        self._record(change, password)
        ok = conn.add(change.dn, USER_CLASSES, new_account_attributes(change, password))
        _check(conn, ok, change)

    def _record(self, change: Change, password: str) -> None:
        if self.on_password is None:
            raise BackendError(f"{change.key} ({change.dn}): nowhere to record a new password, "
                               "so it is not set; the writer needs on_password")
        try:
            self.on_password(change, password)
        except (OSError, SscError) as e:
            raise BackendError(
                f"{change.key} ({change.dn}): recording its new password failed ({e}), so it "
                "is not set; free or fix the state dir and run apply again") from e


_APPLIERS: dict[ObjectKind, Callable[[AdWriter, ldap3.Connection, Change], None]] = {
    ObjectKind.OU: AdWriter._ou,
    ObjectKind.GROUP: AdWriter._group,
    ObjectKind.MEMBERS: AdWriter._members,
    ObjectKind.ACCOUNT: AdWriter._account,
}


USER_CLASSES = ("top", "person", "organizationalPerson", "user")


def joined_units(changes: Sequence[Change]) -> list[list[tuple[Change, ...]]]:
    """The rounds a batch is written in, each a list of units (pure).

    Everything but memberships goes first, one change a unit; a new group whose plan gives
    it members (and nothing to remove) forms one unit with that membership change, written
    as one add. The other memberships come in a second round, once their groups exist.
    """
    creates = {dn_key(c.dn) for c in changes
               if c.kind is ObjectKind.GROUP and c.action is Action.CREATE}
    joined: dict[str, Change] = {}
    for c in changes:
        key = dn_key(c.dn)
        if c.kind is ObjectKind.MEMBERS and key in creates and key not in joined and \
                c.after.get("add") and not c.after.get("remove"):
            joined[key] = c
    first: list[tuple[Change, ...]] = []
    then: list[tuple[Change, ...]] = []
    for c in changes:
        key = dn_key(c.dn)
        if c.kind is not ObjectKind.MEMBERS:
            first.append((c, joined[key]) if c.kind is ObjectKind.GROUP and
                         c.action is Action.CREATE and key in joined else (c,))
        elif joined.get(key) is not c:
            then.append((c,))
    return [units for units in (first, then) if units]


def _group_attributes(change: Change) -> dict[str, Any]:
    """What the add of a new group carries: its name, its type, its description."""
    return {"sAMAccountName": change.key, "groupType": GLOBAL_SECURITY_GROUP,
            "description": change.after.get("description") or []}


def _delete_parked(conn: ldap3.Connection, change: Change) -> None:
    """Delete a leaver's account after checking, right before, that it is the very object the
    purge plan was made for (objectGUID), still disabled and still carrying the tool's mark."""
    entries = Reader(conn).search(change.dn, USERS_FILTER, ("objectGUID", "userAccountControl",
                                                            "adminDescription", "employeeID"))
    here = [e for e in entries if dn_key(e["dn"]) == dn_key(change.dn)]
    if not here:
        raise BackendError(f"{change.dn} is gone or moved since the purge plan: not deleted; "
                           "run purge again")
    entry = here[0]
    uac = first_value(entry, "userAccountControl")
    now = {"objectGUID": guid_text(entry), "employeeID": first_value(entry, "employeeID"),
           "enabled": not (int(uac) if uac else 0) & UAC_ACCOUNTDISABLE,
           "adminDescription": first_value(entry, "adminDescription")}
    changed = sorted(k for k, v in change.before.items() if k in now and now[k] != v)
    if changed:
        raise BackendError(f"{change.dn} changed since the purge plan ({', '.join(changed)}): "
                           "not deleted; run purge again")
    _check(conn, conn.delete(change.dn), change)


def new_account_attributes(change: Change, password: str) -> dict[str, Any]:
    """What the one add that creates an account carries (pure): the plan's attributes, the
    password, and the flags (enabled or not, must change the password at first logon)."""
    after = dict(change.after)
    enabled = bool(after.pop("enabled", False))
    after.pop("cn", None)  # the RDN gives it
    after.pop("password", None)  # a create always gets a new password
    attributes: dict[str, Any] = {k: v for k, v in after.items() if v}
    attributes["unicodePwd"] = _encode_password(password)
    attributes["userAccountControl"] = str(
        UAC_NORMAL_ACCOUNT | (0 if enabled else UAC_ACCOUNTDISABLE))
    attributes["pwdLastSet"] = "0"  # must change the password at first logon
    return attributes


def _encode_password(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


def _check(conn: ldap3.Connection, ok: bool, change: Change) -> None:
    if ok:
        return
    result = conn.result or {}
    raise BackendError(explain_ldap_result(result, change.dn))


_DSID_HINTS = {
    "0000052D": "the DC rejected the password (complexity, length or history policy)",
    "00002071": "the name is already taken in the domain",
    "0000202F": "a UPN or sAMAccountName is already taken or has characters AD refuses",
}


def explain_ldap_result(result: Mapping[str, Any], dn: str) -> str:
    """The DC's answer in words: what failed, on which DN, and a likely reason."""
    code = str(result.get("description", "unknown"))
    message = str(result.get("message", "")).strip()
    hint = next((text for dsid, text in _DSID_HINTS.items() if dsid in message), "")
    if not hint and code == "insufficientAccessRights":
        hint = "the bind account lacks the rights for this; delegate them on the partner OU"
    if not hint and code == "noSuchObject":
        hint = "the parent or the object itself is missing: run plan again"
    text = f"{code} on {dn}"
    if hint:
        text += f": {hint}"
    if message:
        text += f" [{message}]"
    return text


def _canonical(change: Change) -> Change:
    """The change with every DN in the one spelling the scope check understood."""
    after = dict(change.after)
    if "dn" in after:
        after["dn"] = canonical_dn(str(after["dn"]))
    for side in ("add", "remove"):
        if side in after and change.kind is ObjectKind.MEMBERS:
            after[side] = [canonical_dn(str(m)) for m in after[side]]
    return dataclasses.replace(change, target=canonical_dn(change.dn), after=after)
