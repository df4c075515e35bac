"""Run the daemons' own checkers on a rendered bundle, before any host sees it.

The roles check every file with `validate:` as they install it; this runs the same commands on
the control machine (`ssc-infra render --check`), so that a value the daemon would refuse shows
up while the engineer reads the files, not half-way through an apply. A checker that is not
installed here is reported as skipped, with the package that brings it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.core.model import Region
from ssc_infra.core.packaged import CHECKER, packaged_path
from ssc_infra.hosts.render import ROLE_FILES

# What each check runs, and the Debian package that brings it.
NEEDS: dict[tuple[str, ...], tuple[str, str] | None] = {
    ("ssc-check", "samba"): ("testparm", "samba-common-bin"),
    ("ssc-check", "radius"): ("freeradius", "freeradius"),
    ("ssc-check", "wireguard"): ("wg-quick", "wireguard-tools"),
    ("ssc-check", "vdi"): None,
    ("kea-dhcp4", "-t"): ("kea-dhcp4", "kea-dhcp4-server"),
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    host: str
    path: str  # inside the host, as in the bundle
    status: str  # ok | failed | skipped
    message: str = ""


def command(check: tuple[str, ...], file: Path, checker: Path) -> list[str]:
    """The command line of one check; `checker`: our own config checker (ssc-check)."""
    program, *args = check
    if program == "ssc-check":
        return [sys.executable, str(checker), *args, str(file)]
    return [program, *args, str(file)]


def check_host_files(region: Region, folder: Path,
                     only: Collection[tuple[str, str]] | None = None) -> Iterator[CheckResult]:
    """Every checked file of every host in `folder` (as `render` wrote it), one result each.

    Args:
        only: (host, path) pairs to check, e.g. the files a plan would change; None: all.
    """
    for host in region.hosts:
        for role in host.roles:
            for f in ROLE_FILES[role]:
                if only is None or (host.name, f.path) in only:
                    yield check_file(host.name, f.path, f.check, folder / host.name / f.path)


def check_file(host: str, path: str, check: tuple[str, ...], file: Path) -> CheckResult:
    needs = NEEDS[check]
    if needs and shutil.which(needs[0]) is None:
        return CheckResult(host, path, "skipped",
                           f"{needs[0]} is not installed here (apt-get install {needs[1]})")
    with packaged_path(CHECKER) as checker:
        done = subprocess.run(command(check, file, checker), capture_output=True, text=True,
                              check=False)
    if done.returncode == 0:
        return CheckResult(host, path, "ok")
    lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
    message = next((line for line in lines if "ssc-check:" in line or "ERROR" in line),
                   lines[-1] if lines else f"exit {done.returncode}")
    return CheckResult(host, path, "failed", message.strip().removeprefix("ssc-check: "))
