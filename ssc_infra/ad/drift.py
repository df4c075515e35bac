"""The drift rules: what a plan does not put right by itself (pure).

- The tool marks every account it disables or makes disabled: `adminDescription` starts with
  DISABLED_MARK (see `lock_rules`). A disabled account without the mark was disabled by a
  person, e.g. a security lock: it stays disabled and is drift until a hold acknowledges it,
  or `--enable PARTNER/ID` releases it.
- A group the tool made (`<p>-dep-*`, `-app-*`, `-acc-*`, `-lic-*` in the partner's Groups
  OU) whose department or service is gone is retired: emptied and marked, never deleted
  (see `retire_group`).

`ssc_infra.ad.diff` applies both to the changes it makes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date

from ssc_infra.ad.attributes import DESCRIPTION_MAX, DISABLED_MARK, MARKER_ATTRIBUTE, RETIRED_MARK
from ssc_infra.core.actual import DirectoryAccount, DirectoryGroup, DirectoryState
from ssc_infra.core.desired import AccountState, DesiredAccount, DesiredPartner
from ssc_infra.core.dn import dn_key, parent_dn
from ssc_infra.core.model import PersonKey
from ssc_infra.core.plan import Action, Change, ObjectKind, Unmanaged
from ssc_infra.sources.holds import Holds

OWNED_GROUP_KINDS = {"dep": "its department is gone from the HR export",
                     "app": "the partner no longer takes the service",
                     "acc": "the partner no longer takes the service",
                     "lic": "the partner no longer takes the service"}


# -- locks: disabled by the tool, or by a person -----------------------------------------


def lock_rules(
    change: Change | None,
    wanted: DesiredAccount,
    current: DirectoryAccount | None,
    holds: Holds,
    enable: Collection[PersonKey],
    today: date,
) -> tuple[Change | None, Unmanaged | None]:
    """Tell the accounts the tool keeps disabled from those a person disabled.

    The tool disables an account for its own reasons only: a pre-start account (made
    disabled before the start date), a leaver, someone gone from the HR export. Each time it
    writes DISABLED_MARK to `adminDescription`, an attribute every object may have, shown in
    no user tab and read by nothing else here; when the tool enables the account, the mark
    goes. So a disabled account without the mark was disabled by a person (a security lock,
    a suspension): the plan keeps it disabled and reports it as drift, whatever the HR export
    says. A hold in holds.yaml makes it an acknowledged lock until its date; `--enable
    PARTNER/ID` (`enable`) lets the plan enable it. A lock is never released by the tool.

    Returns:
        The change as it may be applied, and the lock to report (or None).
    """
    after = dict(change.after) if change is not None else {}
    if current is None:
        if change is not None and change.action is Action.CREATE and not after.get("enabled"):
            after[MARKER_ATTRIBUTE] = _mark(wanted, today)
            return replace(change, after=after), None
        return change, None
    ours = current.marker.startswith(DISABLED_MARK)
    if after.get("enabled") is True and not ours and wanted.key not in enable:
        return _without_enable(change), _lock(wanted, current, holds, today)
    before = dict(change.before) if change is not None else {}
    if after.get("enabled") is False or (ours and "dn" in after and
                                         wanted.state is AccountState.LEAVER):
        # Disabled now, or (a pre-start account whose person left) parked now: from today.
        if after.get("enabled") is not False:
            before[MARKER_ATTRIBUTE] = current.marker
        after[MARKER_ATTRIBUTE] = _mark(wanted, today)
    elif ours and (current.enabled or after.get("enabled") is True):
        # Enabled by the tool, or by a person: the mark goes, so a later lock is seen.
        before[MARKER_ATTRIBUTE], after[MARKER_ATTRIBUTE] = current.marker, ""
    else:
        return change, None
    if change is None:
        key = f"{wanted.partner}/{wanted.employee_id}"
        return Change(ObjectKind.ACCOUNT, Action.UPDATE, wanted.partner, key, current.dn,
                      before, after, label=wanted.name.display_name), None
    return replace(change, before=before, after=after), None


def _mark(account: DesiredAccount, today: date) -> str:
    """The mark of an account the tool disables; a leaver's ends with the day it was disabled,
    from which the retention period counts (`ssc_infra.ad.retention`)."""
    why = f"leaver on {today.isoformat()}" if account.state is AccountState.LEAVER else (
        f"pre-start, starts {account.start_date.isoformat()}")
    return f"{DISABLED_MARK}: {why}"


def _without_enable(change: Change | None) -> Change | None:
    if change is None:
        return None
    hidden = ("enabled", "uac")
    before = {k: v for k, v in change.before.items() if k not in hidden}
    after = {k: v for k, v in change.after.items() if k not in hidden}
    if not after:
        return None
    action = Action.MOVE if "dn" in after else Action.UPDATE
    return replace(change, action=action, before=before, after=after)


def _lock(wanted: DesiredAccount, current: DirectoryAccount, holds: Holds,
          today: date) -> Unmanaged:
    key = f"{wanted.partner}/{wanted.employee_id}"
    hold = holds.hold_for(wanted.key)
    label = wanted.name.display_name
    if hold is not None and hold.active(today):
        return Unmanaged(wanted.partner, current.dn, "disabled outside the tool", key,
                         f"held until {hold.until.isoformat()}: {hold.reason} ({hold.where})",
                         label)
    reason = (f"disabled outside the tool (not by ssc-infra): kept disabled. Release it with "
              f"--enable {key}, or acknowledge it in holds.yaml")
    if hold is not None:
        reason += f" (the hold at {hold.where} ran out on {hold.until.isoformat()})"
    return Unmanaged(wanted.partner, current.dn, reason, key, label=label)


# -- retired groups ---------------------------------------------------------------------


def owned_group_kind(name: str, partner: str) -> str | None:
    """The kind of a group the tool makes ("dep", "app", "acc", "lic") by its name, or None."""
    prefix = f"{partner}-"
    if not name.startswith(prefix):
        return None
    kind = name[len(prefix):].split("-", 1)[0]
    return kind if kind in OWNED_GROUP_KINDS and name.count("-") >= 2 else None


def retired_groups(partner: DesiredPartner, actual: DirectoryState) -> list[DirectoryGroup]:
    """The partner's groups that the tool made and the inventory no longer asks for."""
    wanted = {dn_key(g.dn) for g in partner.groups}
    groups_ou = dn_key(partner.groups_ou)
    return [g for g in actual.groups
            if g.partner == partner.code and dn_key(g.dn) not in wanted
            and dn_key(parent_dn(g.dn)) == groups_ou
            and owned_group_kind(g.name, partner.code) is not None]


def retire_group(
    group: DirectoryGroup,
    member_keys: Mapping[str, PersonKey],
    final_dn: Mapping[PersonKey, str],
    others: Mapping[str, str],
    today: date,
    why: str = "",
) -> Iterable[Change]:
    """Retire a group whose department or service is gone: empty it, mark it, keep it.

    WHY says why it is gone when the partner is (merged, offboarded); else its kind does.

    Its members would otherwise keep the access or licence by accident. Emptying is what
    takes the access away, so each member removed counts as a disable for the guards. The
    group is not deleted (its SID, history and audit trail stay; a purge is a separate,
    explicit step), not renamed (a department that comes back finds its group again by
    name) and not moved (the drift check reads groups in the partner OUs only, so a member
    added by hand to a retired group is seen, and removed, by the next plan).
    """
    kind = owned_group_kind(group.name, group.partner) or ""
    if not group.description.startswith(RETIRED_MARK):
        because = why or OWNED_GROUP_KINDS[kind]
        text = (f"{RETIRED_MARK} {today.isoformat()}: {because}; kept empty, grants nothing "
                f"(was: {group.description})")
        yield Change(ObjectKind.GROUP, Action.UPDATE, group.partner, group.name, group.dn,
                     {"description": group.description}, {"description": text[:DESCRIPTION_MAX]})
    if group.members:
        remove: list[str] = []
        keys: list[str] = []
        for member in sorted(group.members):
            person = member_keys.get(member)
            remove.append(final_dn[person] if person else others.get(member, member))
            keys.append(f"{person[0]}/{person[1]}" if person else remove[-1])
        have = sorted(f"{p}/{e}" for p, e in (member_keys[m] for m in group.members
                                              if m in member_keys))
        yield Change(ObjectKind.MEMBERS, Action.DISABLE, group.partner, group.name, group.dn,
                     {"members": have},
                     {"add": [], "remove": remove, "add_keys": [], "remove_keys": keys})
