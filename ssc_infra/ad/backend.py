"""The directory over ldap3: the real `DirectoryBackend` (read, names, writer) of a target."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.ad import snapshot as ad_snapshot
from ssc_infra.ad.connection import AdSettings, connect
from ssc_infra.ad.privileged import PrivilegedGroup, read_privileged
from ssc_infra.ad.read import taken_names
from ssc_infra.ad.scope import Scope
from ssc_infra.ad.writer import AdWriter
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.secrets import PasswordSink


@dataclass(frozen=True)
class LdapDirectory:
    """AD over ldap3. With a state dir, a read that need not be full reads only what changed
    since the last read it kept there (`ad_snapshot`)."""

    settings: AdSettings
    state: Path | None = None

    def read(self, scope: Scope, workers: int, full: bool = True) -> DirectoryState:
        return ad_snapshot.read(lambda: connect(self.settings), scope, workers, self.state, full)

    def taken_names(self, sams: set[str], upns: set[str]) -> tuple[set[str], set[str]]:
        conn = connect(self.settings)
        try:
            return taken_names(conn, self.settings.base_dn, sams, upns)
        finally:
            conn.unbind()

    def read_privileged(self, names: Collection[str]) -> dict[str, PrivilegedGroup]:
        conn = connect(self.settings)
        try:
            return read_privileged(conn, self.settings.base_dn, names)
        finally:
            conn.unbind()

    def writer(self, scope: Scope, workers: int, on_password: PasswordSink) -> AdWriter:
        return AdWriter(self.settings, workers=workers, on_password=on_password, scope=scope)
