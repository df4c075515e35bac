"""What a run for some partners says of the others' parts of the host files."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ssc_infra.cli.plans import kept_parts
from ssc_infra.sources import Kept

EARLY = Kept(date(2026, 12, 7), datetime(2026, 12, 7, 19, 2, tzinfo=UTC))
LATE = Kept(date(2026, 12, 7), datetime(2026, 12, 7, 20, 15, tzinfo=UTC))


def test_one_partner_kept_is_named_alone() -> None:
    assert kept_parts({"beta": EARLY}) == \
        "beta's part of their files stays as applied 2026-12-07 19:02 UTC"


def test_partners_kept_from_one_apply_are_one_clause() -> None:
    said = kept_parts({"fumo": EARLY, "ameland": EARLY, "vlieland": EARLY, "wadden": LATE})
    assert said == ("the parts of ameland, fumo and vlieland in their files stay as applied "
                    "2026-12-07 19:02 UTC; wadden's part of their files stays as applied "
                    "2026-12-07 20:15 UTC")
