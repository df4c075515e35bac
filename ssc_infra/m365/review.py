"""A cloud partner's access review: its users in Microsoft 365, as rows of the review its manager
gets (`ssc_infra.core.review`). Pure: the tenant as read and the users' last sign-ins in.
"""

from __future__ import annotations

from collections.abc import Mapping

from ssc_infra.core.desired import DesiredPartner
from ssc_infra.core.review import NEVER, NEW_ACCOUNT, ReviewRow, with_changes
from ssc_infra.m365.tenant import TenantState


def cloud_review_rows(partner: DesiredPartner, tenant: TenantState,
                      sign_ins: Mapping[str, str],
                      previous: Mapping[str, ReviewRow] | None) -> list[ReviewRow]:
    """Every user of the partner in its tenant: the account is its user principal name.

    Args:
        sign_ins: user id -> the day it last signed in (`signInActivity`).
        previous: the rows of the partner's last review by account (lowercase).
    """
    skus = {s.sku_id: s.part_number for s in tenant.skus}
    groups_of: dict[str, list[str]] = {}
    for group in tenant.groups:
        for member in group.members:
            groups_of.setdefault(member, []).append(group.name)
    places = {w.employee_id: w for w in partner.workplaces}
    rows = []
    for user in sorted(tenant.users, key=lambda u: u.upn.lower()):
        props = user.properties
        place = places.get(user.employee_id)
        workplace = (f"{place.workplace.value} at {place.site}"
                     + (f", devices {', '.join(place.devices)}" if place.devices else "")
                     if place else "")
        status = ("unmanaged" if not user.employee_id else
                  "enabled" if props.get("accountEnabled") else "disabled")
        row = ReviewRow(user.upn, user.employee_id, str(props.get("displayName") or ""),
                        str(props.get("department") or ""), str(props.get("jobTitle") or ""),
                        status, sign_ins.get(user.id, NEVER),
                        tuple(sorted(groups_of.get(user.id, []), key=str.lower)),
                        tuple(sorted(skus.get(s, s) for s in user.licences)), workplace, "")
        rows.append(with_changes(row, None if previous is None else
                                 previous.get(user.upn.lower(), NEW_ACCOUNT)))
    return rows
