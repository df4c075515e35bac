"""Building the region's many small objects without the cyclic garbage collector.

Loading and deriving a big region make millions of tuples and frozen dataclasses, none in a
reference cycle; CPython's collector still walks all of them again and again as they pile up
(for 200,000 people it doubled the time of `derive`). In the block the collector waits; at its
end what the block made is moved out of the collector's sight (`gc.freeze`), since it lives for
the run: walking it once more on the next collection cost a further 0.2 s per 200,000 people.
Reference counting frees all of it as usual. The next block hands the frozen objects back to the
collector's oldest generation first (`gc.unfreeze`), so a long-running process never keeps a
cycle for good. Nested blocks leave all of this to the outermost.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic collector for the block; it resumes as it was, even on an error."""
    if not gc.isenabled():
        yield
        return
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
