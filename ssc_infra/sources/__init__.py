"""Where the inventory comes from: each source loads into one validated Region.

`InventorySource` is what the commands and the run model (`run.py`) need of a source. The
files source (`files.py`: a folder of YAML and CSV files) is the one there is; a new one (NetBox)
is one module that implements the Protocol and one line in `registry.py`.

Held means held everywhere: a partner whose own data is bad, or that a run does not apply,
keeps its part of every host file exactly as last applied. So a source also keeps each
partner's part of the inventory as the systems last got it (in the state dir), and can give
the region with some partners taken from those copies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import Region


@dataclass(frozen=True)
class Loaded:
    """A Region without the partners whose own data has problems, and those problems."""

    region: Region
    held: dict[str, tuple[Problem, ...]]  # partner code -> the problems in its own data
    # Every partner of the inventory, a held one too -> its own data (the files source: its
    # HR export and device list, relative to the folder).
    data_files: dict[str, tuple[str, ...]]
    problems: tuple[Problem, ...] = ()  # the held partners' problems, in the order found

    def strict(self) -> Region:
        """The region of every partner.

        Raises:
            InventoryError: with every problem, when a partner is held back.
        """
        if self.held:
            raise InventoryError(list(self.problems))
        return self.region


@dataclass(frozen=True, slots=True)
class Kept:
    """A partner's part of the inventory as last applied."""

    today: date  # the day the apply was for (who had left then)
    time: datetime  # when it was applied


@dataclass(frozen=True)
class RunInventory:
    """The inventory as plan/apply/drift use it: a partner whose own data is bad is held."""

    region: Region  # held partners included with their data as last applied, where kept
    partners: tuple[str, ...]  # the partners to work on; empty: all
    held: dict[str, tuple[Problem, ...]]  # every held partner, with its problems
    shown: dict[str, tuple[Problem, ...]]  # the held partners this run was asked for
    hosts_held: bool  # no kept copy for a held partner: the host files wait for the fix
    kept: datetime | None  # when the held partners' kept copies were made
    data_files: dict[str, tuple[str, ...]]  # as in `Loaded`
    copies: dict[str, Kept] = field(default_factory=dict)  # the partners kept as applied
    applied_ever: frozenset[str] | None = None  # applied once or more; None: cannot tell


class InventorySource(Protocol):
    """Where the inventory comes from: a folder of files, later NetBox."""

    def describe(self) -> str:
        """Where the inventory is read from, for messages: a folder, a URL."""
        ...

    def load(self, today: date) -> Loaded:
        """The inventory, each partner with bad data of its own held back with its problems.

        Raises:
            InventoryError: for problems that concern every partner (the region's own data),
                or when every partner would be held.
        """
        ...

    def load_for_run(self, today: date, partners: Collection[str], state: Path,
                     allow_disable: Mapping[str, int]) -> RunInventory:
        """The inventory for a run over these partners (empty: all).

        A held partner stands in with its part as last applied, where it was kept in
        `state`; a partner's data that shrank by more than the guard allows (against its
        copy, `allow_disable` raising the limit) holds it too.

        Raises:
            InventoryError: as `load`, and when every partner asked for is held.
        """
        ...

    def with_applied(self, run: RunInventory, partners: Collection[str], state: Path,
                     today: date, leave_out: Collection[str] = ()) -> Region | None:
        """The whole region, these partners' part taken from the copies kept as applied.

        Args:
            leave_out: partners never applied: left out of the region.

        Returns:
            None when a copy is missing or the combination is not a valid inventory.
        """
        ...

    def remember(self, run: RunInventory, partners: Collection[str], state: Path,
                 today: date) -> None:
        """Keep these partners' part as the systems now have it (only the applied ones)."""
        ...
