"""The directory's guards: hold back the partners whose section disables too much (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.model import Guards
from ssc_infra.core.plan import Section, apply_guards


def guard_directory(
    section: Section,
    actual: DirectoryState,
    guards: Guards,
    allow_disable: Mapping[str, int] | None = None,
) -> Section:
    """`apply_guards` with each partner's enabled managed accounts as the directory holds them."""
    enabled = Counter(a.partner for a in actual.accounts if a.key and a.enabled)
    return apply_guards(section, enabled, guards, allow_disable)
