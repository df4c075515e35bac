"""The figures of `ssc-infra show`: one row per partner, for the table and for JSON."""

from __future__ import annotations

import dataclasses
from collections import Counter

from ssc_infra.core.desired import AccountState, DesiredState
from ssc_infra.core.model import Region, Workplace


@dataclasses.dataclass(frozen=True, slots=True)
class PartnerSummary:
    code: str
    name: str
    people: int
    active: int
    prestart: int
    leavers: int
    not_yet: int
    workplaces: dict[str, int]
    services: tuple[str, ...]


def summarise(region: Region, desired: DesiredState) -> list[PartnerSummary]:
    """One line of figures per partner, as `ssc-infra show` prints it."""
    rows = []
    for partner in region.partners:
        wanted = desired.partner(partner.code)
        states = Counter(a.state for a in wanted.accounts)
        kinds = Counter(w.workplace for w in wanted.workplaces)
        rows.append(
            PartnerSummary(
                partner.code, partner.name, len(partner.people), states[AccountState.ACTIVE],
                states[AccountState.PRESTART], states[AccountState.LEAVER], wanted.not_yet,
                {w.value: kinds[w] for w in Workplace}, partner.services,
            )
        )
    return rows
