"""Test helpers that build states from the inventory, so data cases stay short."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.ad.attributes import DISABLED_MARK
from ssc_infra.ad.diff import diff_directory, directory_names
from ssc_infra.core.actual import (
    UAC_ACCOUNTDISABLE,
    UAC_NORMAL_ACCOUNT,
    DirectoryAccount,
    DirectoryGroup,
    DirectoryState,
)
from ssc_infra.core.desired import DesiredState, derive
from ssc_infra.core.dn import dn_key
from ssc_infra.core.model import Identity
from ssc_infra.core.plan import Section
from ssc_infra.sources.files import load


def directory_as_desired(desired: DesiredState) -> DirectoryState:
    """A directory that holds exactly the desired state of the hybrid partners."""
    hybrid = [p for p in desired.partners if p.identity is Identity.HYBRID]
    ous = {dn_key(desired.partners_ou), dn_key(desired.leavers_ou)}
    accounts: list[DirectoryAccount] = []
    dns: dict[tuple[str, str], str] = {}
    for partner in hybrid:
        ous.update(dn_key(ou) for ou in partner.ous)
        for a in partner.accounts:
            n = a.name
            accounts.append(DirectoryAccount(
                dn=a.dn, sam=n.sam, partner=a.partner, employee_id=a.employee_id, upn=n.upn,
                given_name=n.given_name, surname=n.surname, full_name=a.cn,
                display_name=n.display_name, department=a.department, title=a.title,
                company=a.company, mail=n.upn, proxy_addresses=(f"SMTP:{n.upn}",),
                uac=UAC_NORMAL_ACCOUNT | (0 if a.enabled else UAC_ACCOUNTDISABLE),
                in_leavers=a.ou == partner.leavers_ou,
                marker="" if a.enabled else f"{DISABLED_MARK}: made so by the tool",
            ))
            dns[a.key] = dn_key(a.dn)
    groups = [
        DirectoryGroup(g.dn, g.name, g.partner, g.description,
                       frozenset(dns[k] for k in g.members))
        for p in hybrid for g in p.groups
    ]
    taken = frozenset(a.sam for a in accounts) | frozenset(g.name for g in groups)
    return DirectoryState(frozenset(ous), tuple(accounts), tuple(groups), taken)


def edit_directory(state: DirectoryState, edits: Iterable[dict[str, Any]]) -> DirectoryState:
    """Apply test edits: remove, change or add accounts; drop OUs or group members."""
    accounts = list(state.accounts)
    groups = list(state.groups)
    ous = set(state.ous)

    def find(key: str) -> int:
        partner, _, employee_id = key.partition("/")
        for index, account in enumerate(accounts):
            if (account.partner, account.employee_id) == (partner, employee_id):
                return index
        raise KeyError(f"test edit names an unknown account {key}")

    for edit in edits:
        if "remove_account" in edit:
            accounts.pop(find(edit["remove_account"]))
        elif "set" in edit:
            index = find(edit["set"])
            accounts[index] = dataclasses.replace(accounts[index], **edit["attrs"])
        elif "add_account" in edit:
            accounts.append(DirectoryAccount(**edit["add_account"]))
        elif "remove_ou" in edit:
            ous.discard(dn_key(edit["remove_ou"]))
        elif "remove_group" in edit:
            groups = [g for g in groups if g.name != edit["remove_group"]]
        elif "add_group" in edit:
            spec = dict(edit["add_group"])
            spec["members"] = frozenset(dn_key(m) for m in spec.get("members", ()))
            groups.append(DirectoryGroup(**spec))
        elif "set_group" in edit:
            index = next(i for i, g in enumerate(groups) if g.name == edit["set_group"])
            attrs = dict(edit["attrs"])
            if "members" in attrs:
                attrs["members"] = frozenset(dn_key(m) for m in attrs["members"])
            groups[index] = dataclasses.replace(groups[index], **attrs)
        else:
            raise ValueError(f"unknown directory edit {edit}")
    return dataclasses.replace(state, ous=frozenset(ous), accounts=tuple(accounts),
                               groups=tuple(groups))


def plan_for(inventory: Path, today: date, actual: DirectoryState,
             partners: tuple[str, ...] = ()) -> Section:
    """The plan the tool would make for this inventory against this directory."""
    region = load(inventory, today)
    existing, reserved, moves = directory_names(region, actual)
    desired = derive(region, today, existing, reserved)
    return diff_directory(desired, actual, moves, partners)


def desired_for(inventory: Path, today: date) -> DesiredState:
    return derive(load(inventory, today), today)
