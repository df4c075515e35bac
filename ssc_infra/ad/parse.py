"""Raw LDAP entries, as ldap3 gives them, into `ssc_infra.core.actual` types (pure).

`ssc_infra.ad.read` does the searches and hands the entries here, so every rule of how AD spells
a value (a missing attribute, bytes, the FILETIME epoch, a GUID in little-endian) is tested from
data, without a server.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ssc_infra.core.actual import (
    UAC_NORMAL_ACCOUNT,
    DirectoryAccount,
    DirectoryGroup,
    ParkedAccount,
)
from ssc_infra.core.dn import dn_key


def first_value(entry: Mapping[str, Any], name: str) -> str:
    """The first value of an attribute of a raw entry as text; "" when it has none."""
    value = entry.get("attributes", {}).get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def parse_account(entry: Mapping[str, Any], partner: str, in_leavers: bool) -> DirectoryAccount:
    """A raw LDAP user entry as a DirectoryAccount (pure)."""
    uac = first_value(entry, "userAccountControl")
    return DirectoryAccount(
        dn=entry["dn"], sam=first_value(entry, "sAMAccountName"), partner=partner,
        employee_id=first_value(entry, "employeeID") or None,
        upn=first_value(entry, "userPrincipalName") or None,
        given_name=first_value(entry, "givenName"), surname=first_value(entry, "sn"),
        full_name=first_value(entry, "cn"), display_name=first_value(entry, "displayName"),
        department=first_value(entry, "department"), title=first_value(entry, "title"),
        company=first_value(entry, "company"), uac=int(uac) if uac else UAC_NORMAL_ACCOUNT,
        in_leavers=in_leavers, marker=first_value(entry, "adminDescription"),
        must_change_password=_never_set(first_value(entry, "pwdLastSet")),
        mail=first_value(entry, "mail"), proxy_addresses=_all(entry, "proxyAddresses"),
        last_logon=filetime_day(first_value(entry, "lastLogonTimestamp")),
    )


_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def filetime_day(value: str) -> str:
    """A FILETIME (100 ns since 1601, as AD keeps lastLogonTimestamp) as "YYYY-MM-DD"; "" for
    never (0, or nothing). ldap3 may show it as a time already when it knows the schema."""
    if not value or value == "0" or value.startswith("1601-01-01"):
        return ""
    if value.isdigit():
        try:
            return (_FILETIME_EPOCH + timedelta(microseconds=int(value) // 10)).date().isoformat()
        except OverflowError:
            return ""
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return ""


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
        dn=entry["dn"], name=first_value(entry, "sAMAccountName") or first_value(entry, "cn"),
        partner=partner, description=first_value(entry, "description"),
        members=frozenset(dn_key(m) for m in members),
    )


def parse_parked(entry: Mapping[str, Any], partner: str) -> ParkedAccount:
    """A raw LDAP user entry below the leavers OU as a ParkedAccount (pure)."""
    return ParkedAccount(parse_account(entry, partner, in_leavers=True),
                         guid_text(entry), generalized_time(first_value(entry, "whenChanged")))


def guid_text(entry: Mapping[str, Any]) -> str:
    """objectGUID as text (8-4-4-4-12, lowercase), from the raw bytes AD sends (little-endian
    in its first three parts, as Windows shows it); "" when there is none."""
    raw = entry.get("raw_attributes", {}).get("objectGUID") or []
    value = raw[0] if isinstance(raw, list) and raw else raw
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    text = first_value(entry, "objectGUID").strip("{}").lower()
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
