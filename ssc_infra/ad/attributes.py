"""What the tool writes on directory objects: the attributes it manages, its marks (pure).

`account_attributes` is what a desired account should carry and `actual_attributes` what an
account read from the directory carries, under the same names, so the diff and the staleness
check of a saved plan compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ssc_infra.core.actual import DirectoryAccount
from ssc_infra.core.desired import DesiredAccount

GLOBAL_SECURITY_GROUP = -2147483646  # groupType: global scope, security enabled
MARKER_ATTRIBUTE = "adminDescription"  # on user objects: harmless, hidden from the users
DISABLED_MARK = "ssc-infra: disabled by the tool"
RETIRED_MARK = "ssc-infra: retired"
DESCRIPTION_MAX = 1024
# The "password" pseudo attribute of an account change: never a password, only these words.
PASSWORD_NOT_RECORDED = "never set, not recorded"
PASSWORD_NEW = "new, recorded at apply"


def proxy_addresses(upn: str, have: Sequence[str] = (), old_mail: str = "") -> list[str]:
    """proxyAddresses for a primary address: `SMTP:upn` first, then every address the account
    had (and its old mail) as an `smtp:` alias, then other types (x500:, sip:) as they are.
    An address is never dropped: mail sent to an old name still arrives."""
    aliases = {a[5:].lower(): a[5:] for a in have if a[:5].lower() == "smtp:"}
    if old_mail:
        aliases.setdefault(old_mail.lower(), old_mail)
    aliases.pop(upn.lower(), None)
    others = sorted(a for a in have if a[:5].lower() != "smtp:")
    return [f"SMTP:{upn}", *sorted(f"smtp:{a}" for a in aliases.values()), *others]


def _canonical(have: Sequence[str]) -> list[str]:
    """An account's proxyAddresses in the order `proxy_addresses` writes them."""
    primary = [a for a in have if a[:5] == "SMTP:"]
    aliases = sorted(a for a in have if a[:5].lower() == "smtp:" and a[:5] != "SMTP:")
    return [*primary, *aliases, *sorted(a for a in have if a[:5].lower() != "smtp:")]


def account_attributes(account: DesiredAccount) -> dict[str, Any]:
    """The LDAP attributes the tool manages on a user object (besides its DN and state)."""
    name = account.name
    return {
        "sAMAccountName": name.sam,
        "userPrincipalName": name.upn,
        "employeeID": account.employee_id,
        "givenName": name.given_name,
        "sn": name.surname,
        "displayName": name.display_name,
        "department": account.department,
        "title": account.title,
        "company": account.company,
        "mail": name.upn,
        "proxyAddresses": proxy_addresses(name.upn),
    }


def actual_attributes(account: DirectoryAccount) -> dict[str, Any]:
    """The attributes of `account_attributes` (and the tool's mark) as the account has them."""
    return {
        "sAMAccountName": account.sam,
        "userPrincipalName": account.upn or "",
        "employeeID": account.employee_id or "",
        "givenName": account.given_name,
        "sn": account.surname,
        "displayName": account.display_name,
        "department": account.department,
        "title": account.title,
        "company": account.company,
        "mail": account.mail,
        "proxyAddresses": _canonical(account.proxy_addresses),
        MARKER_ATTRIBUTE: account.marker,
    }
