"""Verifying a handover bundle: its files against its manifest (and the digest the partner
file recorded at offboarding), then its accounts against the directory now.

`ssc-infra bundle verify` shows the result, and `ssc-infra purge` goes by the same answer:
a bundle that does not verify — a file changed, an account of the bundle gone from the
directory without a purge, or an account of the partner in the directory that the bundle does
not hold — keeps every account of that partner from a purge until it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.ad.connection import AdSettings
from ssc_infra.core.model import Region
from ssc_infra.lifecycle.handover import BundleCheck, check_handover_bundle
from ssc_infra.lifecycle.offboard import (
    DirectoryCheck,
    check_against,
    directory_entries,
    purged_keys,
)
from ssc_infra.run.request import NO_HOOKS, Hooks


@dataclass(frozen=True)
class Verified:
    """What a verification found: the files, and the accounts when they were compared."""

    check: BundleCheck
    against: DirectoryCheck | None = None

    @property
    def ok(self) -> bool:
        return self.check.ok and (self.against is None or self.against.ok)

    def why_not(self, most: int = 3) -> str:
        """Why the bundle does not verify, on one line (empty when it does)."""
        problems = list(self.check.problems)
        if self.against is not None:
            problems += [f"missing from the directory (and no purge of it in the audit log): "
                         f"{key}" for key in self.against.missing]
            problems += [f"in the directory, not in the bundle: {key}"
                         for key in self.against.extra]
        more = len(problems) - most
        return "; ".join(problems[:most]) + (f"; and {more} more" if more > 0 else "")


def verify_bundle(folder: Path, region_of: Callable[[], Region] | None,
                  settings_of: Callable[[Region], AdSettings] | None, audit_log: Path,
                  hooks: Hooks = NO_HOOKS) -> Verified:
    """The bundle in `folder` (absolute): its files against its manifest; then, with a region
    (`region_of`, read only when the bundle names its partner) — against the manifest digest
    the partner file recorded at offboarding, and, with the directory (`settings_of`) and
    whole files, every account it holds against the directory now (still there, or deleted
    by a purge `audit_log` records) and no account of the partner that it lacks."""
    check = check_handover_bundle(folder)
    code = check.partner
    if region_of is None or not code:
        return Verified(check)
    region = region_of()
    try:
        offboarded = region.partner(code).offboarded
    except KeyError:
        offboarded = None
    if offboarded is not None and Path(offboarded.bundle) == folder:
        check = check_handover_bundle(folder, offboarded.manifest_sha256)
    if settings_of is None or not check.ok:
        return Verified(check)
    settings = settings_of(region)
    with hooks.status(f"reading {code}'s accounts in the directory..."):
        users, _groups = directory_entries(settings, region, code)
    return Verified(check, check_against(check, users, purged_keys(audit_log)))


def verified_bundles(region: Region, settings: AdSettings,
                     audit_log: Path) -> dict[str, frozenset[str] | str]:
    """Every offboarded partner's bundle as `bundle verify` judges it, for the purge
    (`ssc_infra.ad.retention.plan_purge`): the objectGUIDs of the accounts it holds when it
    verifies — its files and its accounts against the directory — or why it does not."""
    found: dict[str, frozenset[str] | str] = {}
    for partner in region.partners:
        if partner.offboarded is None:
            continue
        folder = Path(partner.offboarded.bundle)
        verified = verify_bundle(folder, lambda: region, lambda _region: settings, audit_log)
        if verified.check.ok and verified.check.partner != partner.code:
            found[partner.code] = f"{folder} is the bundle of {verified.check.partner!r}"
        elif not verified.ok:
            found[partner.code] = f"{folder}: {verified.why_not()}"
        else:
            found[partner.code] = verified.check.guids()
    return found
