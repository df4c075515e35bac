"""Offboard a partner (ontvlechting): its handover bundle first, then the one plan.

`write_handover` reads everything the partner has — AD accounts and groups, its Microsoft 365
users and licences, devices and the addresses handed out to them, its part of every host
configuration — and writes the bundle (`ssc_infra.lifecycle.handover`); only then does
`mark_offboarded` record the offboarding in the partner's file, after which the partner has no
people, devices or services: the ordinary plan disables its accounts and parks them in its
leavers OU, takes them out of every group and licence, releases the addresses and archives the
homes. Nothing is deleted; `ssc-infra purge` may, after the retention period, delete only what
the verified bundle holds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra import __version__
from ssc_infra.ad.connection import AdSettings, connect
from ssc_infra.ad.read import read_partner_entries
from ssc_infra.core.desired import derive
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import Partner, Region
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.hosts.render import HOMES_DATA, render_host_files
from ssc_infra.lifecycle.handover import (
    BundleCheck,
    Entry,
    Handover,
    bundle_files,
    check_handover_bundle,
    manifest,
    write_handover_bundle,
)
from ssc_infra.m365.tenant import TenantState
from ssc_infra.run.directory import scope_of
from ssc_infra.state.allocations import load_allocations
from ssc_infra.state.folder import now
from ssc_infra.state.ledger import kept_names, load_ledger


def partner_file(inventory: Path, code: str) -> Path:
    """The partner's YAML file in the inventory folder."""
    for suffix in (".yaml", ".yml"):
        path = inventory / "partners" / f"{code}{suffix}"
        if path.is_file():
            return path
    raise SscError(f"no partners/{code}.yaml in {inventory}: is {code!r} a partner of this "
                   "inventory?")


def gather(region: Region, code: str, settings: AdSettings, state: Path, today: date,
           target: str, cloud: TenantState | None,
           homes: Sequence[Mapping[str, Any]] | None = None, notes: tuple[str, ...] = (),
           ) -> Handover:
    """Everything of the partner, read: what its handover bundle holds.

    Args:
        region: the inventory as it is, before the offboarding.
        code: the partner.
        settings: the directory to read its accounts and groups from.
        state: the state dir (the addresses handed out, the names kept).
        today: the day of the offboarding.
        target: the target's name, for the manifest.
        cloud: its Microsoft 365 users and groups as read (None: the target has no Graph).
        homes: its home folders as the file servers hold them (None: not read).
        notes: what the bundle cannot hold, and why.
    """
    partner = region.partner(code)
    accounts, groups = directory_entries(settings, region, code)
    devices = {d.asset_tag for d in partner.devices}
    addresses = {kind: {tag: str(ip) for tag, ip in by_tag.items() if tag in devices}
                 for kind, by_tag in load_allocations(state).items()}
    return Handover(partner, region.code, target, now(), accounts, groups, cloud,
                    addresses, partner_configs(region, partner, state, today), homes, notes)


def directory_entries(settings: AdSettings, region: Region,
                      code: str) -> tuple[list[Entry], list[Entry]]:
    """The partner's users and groups with every attribute, from the DC."""
    conn = connect(settings)
    try:
        users, groups = read_partner_entries(conn, scope_of(region), code)
    finally:
        conn.unbind()
    return [_entry(e) for e in users], [_entry(e) for e in groups]


def _entry(raw: Mapping[str, Any]) -> Entry:
    values: Mapping[str, Any] = raw.get("raw_attributes") or {}
    return Entry(str(raw["dn"]), {str(k): [v if isinstance(v, bytes) else str(v).encode()
                                           for v in (vs if isinstance(vs, list) else [vs])]
                                  for k, vs in values.items()})


def partner_configs(region: Region, partner: Partner, state: Path,
                    today: date) -> dict[str, dict[str, str]]:
    """The partner's part of every host file: the files rendered for it alone (as `render
    --partner` does), with the names and addresses the tool handed out."""
    alone = dataclasses.replace(region, partners=(partner,))
    desired = derive(alone, today, kept_names(load_ledger(state), region))
    rendered = render_host_files(alone, derive_workplaces(alone, desired, load_allocations(state)))
    return {host: {path: text for path, text in files.items() if path != HOMES_DATA}
            for host, files in rendered.files.items()}


def write_handover(handover: Handover, folder: Path, leavers_dn: str) -> BundleCheck:
    """Write the bundle and read it back against its manifest before anything else happens.

    Raises:
        BundleError: the folder is not empty or cannot be written, or the bundle read back
            is not whole.
    """
    files = bundle_files(handover, leavers_dn)
    digest = write_handover_bundle(folder, files,
                                   manifest(handover, files, f"ssc-infra {__version__}"))
    check = check_handover_bundle(folder.absolute(), digest)
    if not check.ok:
        raise SscError(f"the bundle written to {folder} does not read back whole: "
                       f"{'; '.join(check.problems[:3])}; nothing was offboarded. The folder "
                       "is kept as it was written, to see what the disk did to it: remove it "
                       "before you offboard again")
    return check


MARK_COMMENT = "# Offboarded with `ssc-infra partner offboard`; its handover bundle is below."


def mark_offboarded(path: Path, on: date, check: BundleCheck) -> bytes:
    """Record the offboarding at the end of the partner's file; returns the file as it was,
    for `unmark`. The rest of the file (comments included) stays as it is.

    Raises:
        SscError: the file says already that the partner was offboarded.
    """
    before = path.read_bytes()
    text = before.decode("utf-8")
    if any(line.startswith("offboarded:") for line in text.splitlines()):
        raise SscError(f"{path} has an `offboarded:` entry already: the partner was offboarded")
    block = (f"{MARK_COMMENT}\noffboarded:\n  date: {on.isoformat()}\n"
             f"  bundle: {json.dumps(str(check.folder), ensure_ascii=False)}\n"
             f"  manifest_sha256: {check.manifest_sha256}\n")
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + block,
                    encoding="utf-8")
    return before


def unmark(path: Path, before: bytes) -> None:
    """Put the partner's file back as it was before `mark_offboarded`."""
    path.write_bytes(before)


def purged_keys(audit_log: Path) -> dict[str, str]:
    """partner/employee id -> when a purge deleted it, from the audit log (damaged lines are
    skipped: this only tells a purged account from a lost one)."""
    found: dict[str, str] = {}
    try:
        lines = audit_log.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("command") == "purge" and \
                entry.get("action") == "delete" and entry.get("result") == "ok":
            found[str(entry.get("key"))] = str(entry.get("time", ""))
    return found


@dataclasses.dataclass(frozen=True)
class DirectoryCheck:
    """A bundle's accounts against the directory now."""

    present: int
    purged: dict[str, str]  # key -> when the purge deleted it
    missing: tuple[str, ...]  # key (objectGUID) of accounts neither there nor purged
    extra: tuple[str, ...]  # the partner's accounts in the directory that the bundle lacks

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def check_against(check: BundleCheck, now_entries: list[Entry],
                  purged: dict[str, str]) -> DirectoryCheck:
    """Every account of the bundle still in the directory (or deleted by a purge), and no
    account of the partner in the directory that the bundle does not hold. Pure."""
    code = check.partner
    here = {e.text("objectGUID").lower(): e for e in now_entries}
    held = {str((a.get("attributes", {}).get("objectGUID") or [""])[0]).lower(): a
            for a in check.accounts()}
    present, gone, missing = 0, {}, []
    for guid, account in sorted(held.items()):
        eid = (account.get("attributes", {}).get("employeeID") or [""])[0]
        key = f"{code}/{eid}" if eid else str(account.get("dn"))
        if guid in here:
            present += 1
        elif key in purged:
            gone[key] = purged[key]
        else:
            missing.append(f"{key} ({guid})")
    extra = tuple(sorted(f"{e.text('sAMAccountName')} ({g})" for g, e in here.items()
                         if g not in held))
    return DirectoryCheck(present, gone, tuple(missing), extra)
