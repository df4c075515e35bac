"""What the run needs of each system, as small Protocols: read the actual state, apply changes.

A new system (Microsoft Graph, NetBox as a push target) is one module that implements these;
`run/` is unit-tested with in-memory ones (tests/unit/test_run.py). The real ones are
`LdapDirectory` (ad/backend.py over ldap3: ad/connection.py, ad/read.py, ad/writer.py) and
`AnsibleHosts` (hosts/backend.py over ansible-runner, hosts/ansible.py), made from a target by
`run.real_backends`. What each backend reads becomes its `Section` of the one `Plan`, in the
shared vocabulary of `ssc_infra.core.plan` (Change, ItemResult); an item's fingerprint is what it
relied on at plan time, and a saved item whose target no longer matches it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ssc_infra.ad.privileged import PrivilegedGroup
    from ssc_infra.ad.scope import Scope
    from ssc_infra.core.actual import DirectoryState
    from ssc_infra.core.model import Partner, Region
    from ssc_infra.core.plan import Change, ItemResult
    from ssc_infra.core.secrets import PasswordSink
    from ssc_infra.hosts.ansible import RunResult, TaskEvent
    from ssc_infra.hosts.backend import Bundle
    from ssc_infra.m365.counter import GraphCounter
    from ssc_infra.m365.diff import Unreadable
    from ssc_infra.m365.tenant import TenantState


class Writer(Protocol):
    """Applies a batch of changes of one kind; one result per item, never raises for one."""

    def apply(self, changes: Sequence[Change],
              on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]: ...

    def close(self) -> None: ...


class DirectoryBackend(Protocol):
    """The directory (AD): read it whole, ask whether names are taken, write changes."""

    def read(self, scope: Scope, workers: int, full: bool = True) -> DirectoryState:
        """The state in scope; `full=False`: what changed since the last read may do."""
        ...

    def taken_names(self, sams: set[str], upns: set[str]) -> tuple[set[str], set[str]]: ...

    def read_privileged(self, names: Collection[str]) -> Mapping[str, PrivilegedGroup]:
        """The watched privileged groups found, by lowercase name, with their members."""
        ...

    def writer(self, scope: Scope, workers: int, on_password: PasswordSink) -> Writer: ...


class HostsBackend(Protocol):
    """The workplace hosts: push a bundle (or check what it would change)."""

    def read_ahead(self, region: Region, state: Path) -> None:
        """Start the one cheap read per host that a `fast` check compares (in the background)."""
        ...

    def run(self, region: Region, bundle: Bundle, state: Path, *, check: bool,
            partners: Collection[str] | None, held: Collection[str],
            on_event: Callable[[TaskEvent], None] | None,
            expect: Mapping[str, Mapping[str, str]] | None, fast: bool = False,
            allow: Mapping[str, int] | None = None) -> RunResult:
        """`fast`: a host known to be in sync (one cheap read) need not be checked in full;
        `allow`: partner -> how many homes this run may archive (`--allow-disable`)."""
        ...


class GraphBackend(Protocol):
    """Microsoft 365: each partner's part of its tenant, read; changes applied in batches."""

    def read(self, partners: Sequence[Partner]) -> tuple[dict[str, TenantState],
                                                         list[Unreadable]]:
        """What each partner's tenant holds of it; a tenant that fails holds its partner."""
        ...

    def apply(self, changes: Sequence[Change], on_password: PasswordSink,
              on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]: ...

    def read_sign_ins(self, partner: Partner) -> dict[str, str]:
        """The day each of the partner's users last signed in, by user id (access reviews)."""
        ...

    def traffic(self) -> GraphCounter:
        """What the run sent to Graph and how Graph throttled it (429/503, waits)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Backends:
    directory: DirectoryBackend
    hosts: HostsBackend | None  # None: the target has no `ansible:` section
    graph: GraphBackend | None = None  # None: the target has no `graph:` section
