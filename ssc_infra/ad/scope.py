"""The part of the directory the tool manages, and what it may write there (pure).

The tool's objects live in one OU per partner below two containers: the partners OU and the
leavers OU. `partner_below` and `partner_ous` tell which partner a DN or an OU belongs to;
`scope_refusal` tells why the writer must not apply a change, whatever a plan says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ssc_infra.core.dn import dn_key, is_within, parent_dn, rdn_value, split_dn
from ssc_infra.core.plan import Action, Change, ObjectKind


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


def partner_below(dn: str, container: str) -> str:
    """The partner whose OU (directly below `container`) holds `dn`; "" when none does."""
    inner, outer = split_dn(dn_key(dn)), split_dn(dn_key(container))
    if len(inner) < len(outer) + 2 or not is_within(dn, container):
        return ""
    own = split_dn(dn)[len(inner) - len(outer) - 1]
    return rdn_value(own) if own.lower().startswith("ou=") else ""


def partner_ous(ous: Iterable[str], scope: Scope) -> Iterator[tuple[str, str, bool]]:
    """(partner, OU dn, is a leavers OU) for every OU one level below the two containers."""
    partners, leavers = dn_key(scope.partners_dn), dn_key(scope.leavers_dn)
    for ou in ous:
        parent = parent_dn(ou)
        if parent in (partners, leavers):
            yield rdn_value(ou), ou, parent == leavers


# -- the writer's scope ---------------------------------------------------------------------

# What a plan may set on a user object: the attributes the tool manages and its pseudo ones.
ACCOUNT_WRITABLE = frozenset({
    "sAMAccountName", "userPrincipalName", "employeeID", "givenName", "sn", "displayName",
    "department", "title", "company", "cn", "dn", "enabled", "password", "mail",
    "proxyAddresses",
    "adminDescription",  # the mark on an account the tool disabled (attributes.MARKER_ATTRIBUTE)
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
