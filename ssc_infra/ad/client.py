"""Active Directory through ldap3: read the actual state in bulk, apply changes.

Reading is one paged search per partner OU for users and one for groups (members included),
plus one for the OUs and one for the names taken in the domain — never a request per person.
Raw entries go through pure `parse_*` functions into `ssc_infra.core.actual` types.

Connections use LDAPS, or StartTLS, with certificate verification; a plain-text bind is refused
unless the target says `insecure: true` (a lab only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars

from ssc_infra.ad.diff import GLOBAL_SECURITY_GROUP
from ssc_infra.core.actual import (
    UAC_ACCOUNTDISABLE,
    UAC_NORMAL_ACCOUNT,
    DirectoryAccount,
    DirectoryGroup,
    ParkedAccount,
)
from ssc_infra.core.dn import (
    canonical_dn,
    dn_key,
    escape_rdn,
    is_within,
    parent_dn,
    rdn,
    rdn_value,
    split_dn,
)
from ssc_infra.core.errors import BackendError, SscError
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind
from ssc_infra.core.secrets import PasswordSink, Secret, new_password

USER_ATTRIBUTES = (
    "sAMAccountName", "userPrincipalName", "employeeID", "givenName", "sn", "cn",
    "displayName", "department", "title", "company", "userAccountControl", "pwdLastSet",
    "adminDescription", "mail", "proxyAddresses",
)
GROUP_ATTRIBUTES = ("cn", "sAMAccountName", "description", "member")
PAGE_SIZE = 1000
USERS_FILTER = "(sAMAccountType=805306368)"  # normal user accounts: cheap, indexed in AD


@dataclass(frozen=True)
class AdSettings:
    """Where and how to connect, from the targets file.

    Args:
        url: ldaps://host:636, or ldap://host:389 with starttls.
        bind_user: a UPN (svc@ssc.frl) or a DN.
        password: the bind password.
        base_dn: must match the region's directory.domain.
        ca_file: the CA that signed the DC's certificate.
        tls_names: names to accept on the certificate when the URL's host is an address.
        starttls: upgrade an ldap:// connection before binding.
        insecure: allow a plain-text bind (a lab only).
        timeout: seconds to wait for the DC on connect and on every response.
    """

    url: str
    bind_user: str
    password: Secret
    base_dn: str
    ca_file: str | None = None
    tls_names: tuple[str, ...] = ()
    starttls: bool = False
    insecure: bool = False
    timeout: float = 30.0


def connect(settings: AdSettings) -> ldap3.Connection:
    """A bound connection; BackendError says what failed and what to check."""
    parsed = urlparse(settings.url)
    if parsed.scheme not in ("ldap", "ldaps") or not parsed.hostname:
        raise BackendError(f"AD url {settings.url!r}: use ldaps://host:636 or ldap://host:389")
    use_ssl = parsed.scheme == "ldaps"
    if not use_ssl and not settings.starttls and not settings.insecure:
        raise BackendError(
            f"refusing a plain-text bind to {settings.url}: passwords would cross the network "
            "unencrypted. Use ldaps://...:636, or set `starttls: true` in the targets file"
        )
    tls = None
    if use_ssl or settings.starttls:
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=settings.ca_file,
            valid_names=list(settings.tls_names) or None,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
    port = parsed.port or (636 if use_ssl else 389)
    server = ldap3.Server(parsed.hostname, port=port, use_ssl=use_ssl, tls=tls,
                          get_info=ldap3.NONE, connect_timeout=int(settings.timeout))
    conn = ldap3.Connection(
        server, user=settings.bind_user, password=settings.password.reveal(),
        authentication=ldap3.SIMPLE, receive_timeout=int(settings.timeout), raise_exceptions=False,
        return_empty_attributes=False,
    )
    where = f"{settings.url} as {settings.bind_user}"
    try:
        if not conn.open() and conn.closed:
            raise BackendError(f"cannot reach the DC at {settings.url}")
        if settings.starttls and not use_ssl and not conn.start_tls():
            raise BackendError(f"StartTLS with {settings.url} failed: {conn.result}")
        if not conn.bind():
            raise BackendError(_bind_failure(where, conn.result))
    except ldap_errors.LDAPSocketOpenError as e:
        reason = str(e)
        if "certificate" in reason.lower() or "ssl" in reason.lower():
            raise BackendError(
                f"TLS with {settings.url} failed: {reason}. Check ca_file (and tls_names when "
                "connecting by address)"
            ) from e
        raise BackendError(f"cannot reach the DC at {settings.url}: {reason}") from e
    except ldap_errors.LDAPException as e:
        raise BackendError(f"LDAP error talking to {where}: {e}") from e
    return conn


# The "data" code AD puts in an invalidCredentials answer tells why the bind was refused.
_BIND_DATA = {
    "773": "the password must be changed first (initial password, pwdLastSet=0)",
    "532": "the password has expired",
    "533": "the account is disabled",
    "701": "the account has expired",
    "775": "the account is locked out",
}


def _bind_failure(where: str, result: Mapping[str, Any]) -> str:
    code = result.get("description", "")
    if code == "invalidCredentials":
        message = str(result.get("message", ""))
        reason = next((text for data, text in _BIND_DATA.items() if f"data {data}" in message),
                      None)
        if reason:
            return f"bind to {where} refused: {reason}"
        return f"bind to {where} refused: wrong user or password (check the password source " \
               "named in the targets file)"
    if code == "strongerAuthRequired":
        return f"bind to {where} refused: the DC requires TLS (use ldaps:// or starttls)"
    return f"bind to {where} failed: {code} {result.get('message', '')}".strip()


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The parts of the directory the tool manages."""

    base_dn: str
    partners_dn: str  # e.g. OU=Partners,DC=ssc,DC=frl
    leavers_dn: str
    partners: tuple[str, ...] = ()  # limit the read to these partners; empty: all found

    def containers(self) -> tuple[str, str]:
        return self.partners_dn, self.leavers_dn


def default_scope(base_dn: str) -> Scope:
    """The scope of a region with the default layout: OU=Partners and OU=Leavers below base."""
    return Scope(base_dn, f"OU=Partners,{base_dn}", f"OU=Leavers,{base_dn}")


def taken_names(
    conn: ldap3.Connection, base_dn: str, sams: Iterable[str], upns: Iterable[str],
    batch: int = 200,
) -> tuple[set[str], set[str]]:
    """Which of these logon names and UPNs any object in the domain already has (lowercase).

    Only the candidates are asked for, a few hundred per request, so a plan with nothing new
    asks nothing and the domain's names are never read in full.
    """
    terms = [f"(sAMAccountName={escape_filter_chars(n)})" for n in sorted(set(sams))]
    terms += [f"(userPrincipalName={escape_filter_chars(u)})" for u in sorted(set(upns))]
    reader = Reader(conn)
    found_sams: set[str] = set()
    found_upns: set[str] = set()
    for start in range(0, len(terms), batch):
        query = "(|" + "".join(terms[start:start + batch]) + ")"
        for entry in reader.search(base_dn, query, ("sAMAccountName", "userPrincipalName")):
            found_sams.add(_first(entry, "sAMAccountName").lower())
            if upn := _first(entry, "userPrincipalName"):
                found_upns.add(upn.lower())
    return found_sams, found_upns


def read_parked(conn: ldap3.Connection, scope: Scope) -> list[ParkedAccount]:
    """Every user object below the leavers OU, with its objectGUID and whenChanged: one paged
    search, for `ssc-infra leavers` and `purge` (`ssc_infra.ad.retention`)."""
    entries = Reader(conn).search(scope.leavers_dn, USERS_FILTER,
                                  (*USER_ATTRIBUTES, "objectGUID", "whenChanged"))
    found = []
    for entry in entries:
        partner = partner_below(entry["dn"], scope.leavers_dn)
        if partner and (not scope.partners or partner in scope.partners):
            found.append(parse_parked(entry, partner))
    return found


def read_export(conn: ldap3.Connection, scope: Scope, partner: str,
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every user of a partner (its OU and its leavers OU) and every group in its OU, with all
    their attributes as raw values: what a handover bundle holds. Three paged searches."""
    reader = Reader(conn)
    own = f"OU={escape_rdn(partner)},{scope.partners_dn}"
    parked = f"OU={escape_rdn(partner)},{scope.leavers_dn}"
    users = reader.search(own, USERS_FILTER, ("*",)) + reader.search(parked, USERS_FILTER,
                                                                      ("*",))
    groups = reader.search(own, "(objectClass=group)", ("*",))
    return users, groups


def partner_below(dn: str, container: str) -> str:
    """The partner whose OU (directly below `container`) holds `dn`; "" when none does."""
    inner, outer = split_dn(dn_key(dn)), split_dn(dn_key(container))
    if len(inner) < len(outer) + 2 or not is_within(dn, container):
        return ""
    own = split_dn(dn)[len(inner) - len(outer) - 1]
    return rdn_value(own) if own.lower().startswith("ou=") else ""


def parse_parked(entry: Mapping[str, Any], partner: str) -> ParkedAccount:
    """A raw LDAP user entry below the leavers OU as a ParkedAccount (pure)."""
    return ParkedAccount(parse_account(entry, partner, in_leavers=True),
                         guid_text(entry), generalized_time(_first(entry, "whenChanged")))


def guid_text(entry: Mapping[str, Any]) -> str:
    """objectGUID as text (8-4-4-4-12, lowercase), from the raw bytes AD sends (little-endian
    in its first three parts, as Windows shows it); "" when there is none."""
    raw = entry.get("raw_attributes", {}).get("objectGUID") or []
    value = raw[0] if isinstance(raw, list) and raw else raw
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    text = _first(entry, "objectGUID").strip("{}").lower()
    with contextlib.suppress(ValueError):
        return str(uuid.UUID(text))
    return ""


def generalized_time(text: str) -> datetime | None:
    """An LDAP GeneralizedTime ("20261203075705.0Z") as an aware UTC datetime; None when it is
    not one."""
    digits = text.strip().rstrip("Zz").split(".")[0]
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        with contextlib.suppress(ValueError):
            found = datetime.fromisoformat(text.strip())
            return found if found.tzinfo else found.replace(tzinfo=UTC)
    return None


def partner_ous(ous: Iterable[str], scope: Scope) -> Iterator[tuple[str, str, bool]]:
    """(partner, OU dn, is a leavers OU) for every OU one level below the two containers."""
    partners, leavers = dn_key(scope.partners_dn), dn_key(scope.leavers_dn)
    for ou in ous:
        parent = parent_dn(ou)
        if parent in (partners, leavers):
            yield rdn_value(ou), ou, parent == leavers


class Reader:
    def __init__(self, conn: ldap3.Connection) -> None:
        self.conn = conn
        self.round_trips = 0

    def search(self, base: str, query: str, attributes: Sequence[str],
               controls: Sequence[tuple[str, bool, Any]] = ()) -> list[dict[str, Any]]:
        """Every entry below `base`, page by page (`controls`: more LDAP controls to send)."""
        entries: list[dict[str, Any]] = []
        cookie: Any = None
        while True:
            self.round_trips += 1
            try:
                self.conn.search(base, query, ldap3.SUBTREE, attributes=list(attributes) or
                                 ["objectClass"], paged_size=PAGE_SIZE, paged_cookie=cookie,
                                 controls=list(controls) or None)
            except ldap_errors.LDAPException as e:
                raise BackendError(f"reading {base} failed: {e}") from e
            result = self.conn.result
            if result.get("description") not in ("success", "noSuchObject"):
                raise BackendError(f"reading {base} failed: {result.get('description')} "
                                   f"{result.get('message', '')}")
            entries.extend(r for r in self.conn.response or () if r.get("type") == "searchResEntry")
            answered = result.get("controls", {})
            cookie = answered.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
            if not cookie:
                return entries


def _first(entry: Mapping[str, Any], name: str) -> str:
    value = entry.get("attributes", {}).get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def parse_account(entry: Mapping[str, Any], partner: str, in_leavers: bool) -> DirectoryAccount:
    """A raw LDAP user entry as a DirectoryAccount (pure)."""
    uac = _first(entry, "userAccountControl")
    return DirectoryAccount(
        dn=entry["dn"], sam=_first(entry, "sAMAccountName"), partner=partner,
        employee_id=_first(entry, "employeeID") or None, upn=_first(entry, "userPrincipalName")
        or None, given_name=_first(entry, "givenName"), surname=_first(entry, "sn"),
        full_name=_first(entry, "cn"), display_name=_first(entry, "displayName"),
        department=_first(entry, "department"), title=_first(entry, "title"),
        company=_first(entry, "company"), uac=int(uac) if uac else UAC_NORMAL_ACCOUNT,
        in_leavers=in_leavers, marker=_first(entry, "adminDescription"),
        must_change_password=_never_set(_first(entry, "pwdLastSet")),
        mail=_first(entry, "mail"), proxy_addresses=_all(entry, "proxyAddresses"),
    )


def _all(entry: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = entry.get("attributes", {}).get(name) or []
    values = value if isinstance(value, list) else [value]
    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                 for v in values if v)


def _never_set(pwd_last_set: str) -> bool:
    """pwdLastSet=0: the password must be changed at the next logon (ldap3 may show the
    0 as the FILETIME epoch when it knows the schema)."""
    return pwd_last_set == "0" or pwd_last_set.startswith("1601-01-01")


def parse_group(entry: Mapping[str, Any], partner: str) -> DirectoryGroup:
    """A raw LDAP group entry as a DirectoryGroup (pure)."""
    members = entry.get("attributes", {}).get("member") or []
    if isinstance(members, str):
        members = [members]
    return DirectoryGroup(
        dn=entry["dn"], name=_first(entry, "sAMAccountName") or _first(entry, "cn"),
        partner=partner, description=_first(entry, "description"),
        members=frozenset(dn_key(m) for m in members),
    )


# -- the writer's scope ---------------------------------------------------------------------

# What a plan may set on a user object: the attributes the tool manages and its pseudo ones.
ACCOUNT_WRITABLE = frozenset({
    "sAMAccountName", "userPrincipalName", "employeeID", "givenName", "sn", "displayName",
    "department", "title", "company", "cn", "dn", "enabled", "password", "mail",
    "proxyAddresses",
    "adminDescription",  # the tool's mark on an account it disabled itself (plan.MARKER_ATTRIBUTE)
})
_GROUP_WRITABLE = frozenset({"description"})
_MEMBER_WRITABLE = frozenset({"add", "remove", "add_keys", "remove_keys"})


def scope_refusal(change: Change, scope: Scope) -> str | None:
    """Why the writer must not apply this change, or None when it lies inside its scope.

    Whatever a plan says (a hand-edited plan file too), the tool writes only: OUs at or below
    the partners and leavers OUs; accounts below them, moved only to below them, with only
    the attributes it manages; and groups it owns — `CN=<p>-...,OU=Groups,OU=<p>,<partners>`
    of partner <p> — whose members lie below the partners or leavers OUs. Pure.
    """
    containers = scope.containers()
    for container in containers:
        if not is_within(container, scope.base_dn):
            return f"the scope's {container} is not below the base DN {scope.base_dn}"
    if change.kind is ObjectKind.OU:
        if not any(is_within(change.dn, c) for c in containers):
            return f"the OU {change.dn} is outside {_either(scope)}"
        return None
    if change.kind is ObjectKind.ACCOUNT and change.action is Action.DELETE:
        # A purge deletes only what waits in the leavers OU, never an account in use.
        leavers = scope.leavers_dn
        if not is_within(change.dn, leavers) or dn_key(change.dn) == dn_key(leavers) or \
                change.after:
            return f"the account {change.dn} is not below {leavers}: only leavers are purged"
        if not change.before.get("objectGUID"):
            return f"the purge of {change.dn} names no objectGUID to check it against"
        return None
    if change.kind is ObjectKind.ACCOUNT:
        extra = sorted(set(change.after) - ACCOUNT_WRITABLE)
        if extra:
            return f"the plan sets {', '.join(extra)} on {change.dn}; the tool manages none of it"
        for dn in (change.dn, *([str(change.after["dn"])] if "dn" in change.after else [])):
            if not _below(dn, scope):
                return f"the account {dn} is outside {_either(scope)}"
        return None
    owner = _group_owner(change.dn, scope)
    if owner is None or owner != change.partner.lower() or (
            change.action is Action.CREATE and change.key != rdn_value(change.dn)):
        return (f"the group {change.dn} is not one the tool owns (a group "
                f"CN=<partner>-...,OU=Groups,OU=<partner>,{scope.partners_dn} of the change's "
                f"partner {change.partner or '(none)'!r})")
    writable = _MEMBER_WRITABLE if change.kind is ObjectKind.MEMBERS else _GROUP_WRITABLE
    extra = sorted(set(change.after) - writable)
    if extra:
        return f"the plan sets {', '.join(extra)} on the group {change.dn}"
    if change.kind is ObjectKind.MEMBERS:
        for side in ("add", "remove"):
            outside = [str(m) for m in change.after.get(side, []) if not _below(str(m), scope)]
            if outside:
                return (f"the members to {side} include {outside[0]}, outside "
                        f"{_either(scope)}")
    return None


def _below(dn: str, scope: Scope) -> bool:
    """Strictly below the partners or the leavers OU (never one of the containers itself)."""
    return any(is_within(dn, c) and dn_key(dn) != dn_key(c) for c in scope.containers())


def _either(scope: Scope) -> str:
    return f"{scope.partners_dn} and {scope.leavers_dn}"


def _group_owner(dn: str, scope: Scope) -> str | None:
    """The partner whose Groups OU holds this group directly, if the name is the tool's."""
    rdns = split_dn(dn)
    partners = split_dn(scope.partners_dn)
    if len(rdns) != len(partners) + 3 or not is_within(dn, scope.partners_dn):
        return None
    if dn_key(rdns[1]) != "ou=groups" or not dn_key(rdns[2]).startswith("ou="):
        return None
    if not dn_key(rdns[0]).startswith("cn="):
        return None
    partner = rdn_value(rdns[2]).lower()
    return partner if rdn_value(rdns[0]).lower().startswith(f"{partner}-") else None


def _canonical(change: Change) -> Change:
    """The change with every DN in the one spelling the scope check understood."""
    after = dict(change.after)
    if "dn" in after:
        after["dn"] = canonical_dn(str(after["dn"]))
    for side in ("add", "remove"):
        if side in after and change.kind is ObjectKind.MEMBERS:
            after[side] = [canonical_dn(str(m)) for m in after[side]]
    return dataclasses.replace(change, target=canonical_dn(change.dn), after=after)


# -- writing ------------------------------------------------------------------------------


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
        """Apply changes of one kind (the caller runs the kinds in APPLY_ORDER)."""
        results: list[ItemResult] = []
        sequential = any(c.kind is ObjectKind.OU for c in changes)  # parents before children
        workers = 1 if sequential else max(1, self.workers)

        def run(change: Change) -> ItemResult:
            result = self._apply_one(change)
            if on_result is not None:
                on_result(result)
            return result

        if workers == 1:
            results = [run(c) for c in changes]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ldap") as pool:
                results = list(pool.map(run, changes))
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
        description = change.after.get("description") or []
        if change.action is Action.CREATE:
            name = change.key
            attributes = {"sAMAccountName": name, "groupType": GLOBAL_SECURITY_GROUP,
                          "description": description}
            _check(conn, conn.add(change.dn, ["top", "group"], attributes), change)
        else:
            _check(conn, conn.modify(change.dn, {"description": [(ldap3.MODIFY_REPLACE,
                                                                  description)]}), change)

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
    uac = _first(entry, "userAccountControl")
    now = {"objectGUID": guid_text(entry), "employeeID": _first(entry, "employeeID"),
           "enabled": not (int(uac) if uac else 0) & UAC_ACCOUNTDISABLE,
           "adminDescription": _first(entry, "adminDescription")}
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


__all__ = [
    "AdSettings",
    "AdWriter",
    "ItemResult",
    "Scope",
    "Secret",
    "connect",
    "default_scope",
    "escape_rdn",
    "explain_ldap_result",
    "new_account_attributes",
    "new_password",
    "parse_account",
    "parse_group",
    "partner_ous",
    "scope_refusal",
    "split_dn",
]
