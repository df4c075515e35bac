"""Reading Active Directory through ldap3: paged searches, never a request per person.

Reading is one paged search per partner OU for users and one for groups (members included),
plus one for the OUs and one for the names taken in the domain. Raw entries go through the
pure `ssc_infra.ad.parse` functions into `ssc_infra.core.actual` types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars

from ssc_infra.ad.parse import first_value, parse_parked
from ssc_infra.ad.scope import Scope, partner_below
from ssc_infra.core.actual import ParkedAccount
from ssc_infra.core.dn import escape_rdn
from ssc_infra.core.errors import BackendError

USER_ATTRIBUTES = (
    "sAMAccountName", "userPrincipalName", "employeeID", "givenName", "sn", "cn",
    "displayName", "department", "title", "company", "userAccountControl", "pwdLastSet",
    "adminDescription", "mail", "proxyAddresses", "lastLogonTimestamp",
)
GROUP_ATTRIBUTES = ("cn", "sAMAccountName", "description", "member")
PAGE_SIZE = 1000
USERS_FILTER = "(sAMAccountType=805306368)"  # normal user accounts: cheap, indexed in AD


class Reader:
    """Paged searches on one connection; counts the requests it sends (`round_trips`)."""

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
            found_sams.add(first_value(entry, "sAMAccountName").lower())
            if upn := first_value(entry, "userPrincipalName"):
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


def read_partner_entries(conn: ldap3.Connection, scope: Scope, partner: str,
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
