"""The inventory sources by name: a new source is its module and one line in `SOURCES`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.core.errors import SscError
from ssc_infra.netbox.client import NetBoxSettings
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.sources import InventorySource
from ssc_infra.sources.files import FilesSource


@dataclass(frozen=True)
class Context:
    """What a source may need besides where it reads: the target's NetBox, the state dir."""

    state: Path = Path(".ssc")
    netbox: Callable[[], NetBoxSettings] | None = None
    region: str | None = None  # the region's code in NetBox (its tenant group)


def _netbox(where: str, context: Context) -> InventorySource:
    if context.netbox is None:
        raise SscError("--source netbox needs a target with a `netbox:` section (--targets, "
                       "--target)")
    return NetBoxSource(Path(where), context.netbox, context.state, context.region)


# name -> a source made from where it reads (the inventory folder) and the run's context
SOURCES: Mapping[str, Callable[[str, Context], InventorySource]] = {
    "files": lambda where, _context: FilesSource(Path(where)),
    "netbox": _netbox,
}


def make_source(name: str, where: str, context: Context | None = None) -> InventorySource:
    """The source `name` reading from `where`.

    Raises:
        SscError: for a name no source has, listing the names there are.
    """
    try:
        factory = SOURCES[name]
    except KeyError:
        raise SscError(f"no inventory source {name!r}; there are: "
                       f"{', '.join(sorted(SOURCES))}") from None
    return factory(where, context or Context())
