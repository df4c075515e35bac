"""Saved plans: whether a saved directory change still fits the directory (pure).

A saved plan is applied exactly as reviewed: an object that changed since the plan was made
is refused, never forced.
"""

from __future__ import annotations

from ssc_infra.ad.attributes import PASSWORD_NOT_RECORDED, actual_attributes
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.dn import dn_key
from ssc_infra.core.plan import Action, Change, ObjectKind


def stale_reason(change: Change, actual: DirectoryState) -> str | None:
    """Why a saved change no longer fits the directory, or None when it can be applied.

    A saved plan is applied exactly as reviewed: an object that changed since the plan was
    made is refused, never forced. Run plan again to see the new difference.
    """
    if change.kind is ObjectKind.OU:
        return "the OU exists now" if dn_key(change.dn) in actual.ous else None
    groups = {dn_key(g.dn): g for g in actual.groups}
    if change.kind is ObjectKind.GROUP:
        group = groups.get(dn_key(change.dn))
        if change.action is Action.CREATE:
            return "the group exists now" if group is not None else None
        if group is None:
            return "the group is gone"
        return None if group.description == change.before.get("description") else (
            "the description changed since the plan was made")
    if change.kind is ObjectKind.MEMBERS:
        group = groups.get(dn_key(change.dn))
        keys = {dn_key(a.dn): f"{a.partner}/{a.employee_id}" for a in actual.accounts if a.key}
        have = sorted(keys[m] for m in (group.members if group else ()) if m in keys)
        if have != list(change.before.get("members", [])):
            return "the group's members changed since the plan was made"
        return None
    by_dn = {dn_key(a.dn): a for a in actual.accounts}
    current = by_dn.get(dn_key(change.dn))
    if change.action is Action.CREATE:
        partner, _, employee_id = change.key.partition("/")
        if current is not None or (partner, employee_id) in actual.managed():
            return "the account exists now"
        return None
    if current is None:
        return "the account is not where the plan found it"
    now = {**actual_attributes(current), "dn": current.dn, "enabled": current.enabled,
           "uac": current.uac, "password": PASSWORD_NOT_RECORDED
           if current.must_change_password else "set by its owner"}
    for name, value in change.before.items():
        if (dn_key(current.dn) != dn_key(value)) if name == "dn" else now[name] != value:
            return f"{name} changed since the plan was made"
    return None
