"""The inventory sources by name: a new source is its module and one line in `SOURCES`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ssc_infra.errors import SscError
from ssc_infra.sources import InventorySource
from ssc_infra.sources.files import FilesSource

# name -> a source made from where it reads (a folder, later a URL)
SOURCES: Mapping[str, Callable[[str], InventorySource]] = {
    "files": lambda where: FilesSource(Path(where)),
}


def make_source(name: str, where: str) -> InventorySource:
    """The source `name` reading from `where`.

    Raises:
        SscError: for a name no source has, listing the names there are.
    """
    try:
        factory = SOURCES[name]
    except KeyError:
        raise SscError(f"no inventory source {name!r}; there are: "
                       f"{', '.join(sorted(SOURCES))}") from None
    return factory(where)
