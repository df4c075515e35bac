"""`ssc-infra bundle verify`: check a handover bundle written by `partner offboard`.
Options and output only; the checks are `ssc_infra.lifecycle.verify`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ssc_infra.ad.connection import AdSettings
from ssc_infra.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    HOOKS,
    err,
    format_option,
    inventory_options,
    out,
    print_json,
    source_for,
    target_options,
)
from ssc_infra.core.model import Region
from ssc_infra.lifecycle.handover import BundleCheck
from ssc_infra.lifecycle.offboard import DirectoryCheck
from ssc_infra.lifecycle.verify import verify_bundle
from ssc_infra.run import (
    check_base_dn,
)
from ssc_infra.run.targets import ad_settings, load_target
from ssc_infra.state.folder import StateDir


@click.group()
def bundle() -> None:
    """Handover bundles written by `partner offboard`."""


@bundle.command("verify")
@inventory_options
@target_options
@format_option
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--files-only", is_flag=True,
              help="Check the files against the manifest only, not against the directory.")
def bundle_verify(inventory: Path, today: date, targets_file: Path, target_name: str,
                  state_dir: Path, fmt: str, folder: Path, files_only: bool) -> None:
    """Check a handover bundle: every file against its manifest, and every account it holds
    against the directory (still there, or deleted by a purge the audit log records).

    \b
    Examples:
      ssc-infra bundle verify /srv/handover/vlieland-2026-12
      ssc-infra bundle verify /srv/handover/vlieland-2026-12 --files-only --format json
    Exit code 0 the bundle is whole and complete, 1 it is not (the problems are listed).
    """
    def settings_of(region: Region) -> AdSettings:
        settings = ad_settings(load_target(targets_file, target_name), target_name)
        check_base_dn(settings, region)
        return settings

    verified = verify_bundle(
        folder.absolute(),
        None if files_only else lambda: source_for(inventory).load(today).region,
        None if files_only else settings_of, StateDir(state_dir).audit_log, HOOKS)
    check, against, ok = verified.check, verified.against, verified.ok
    found: dict[str, Any] = {"folder": str(check.folder), "partner": check.partner,
                             "manifest_sha256": check.manifest_sha256,
                             "files": len(check.manifest.get("files", {})),
                             "counts": check.manifest.get("counts", {}),
                             "problems": list(check.problems)}
    if against is not None:
        found["directory"] = {"present": against.present, "purged": against.purged,
                              "missing": list(against.missing), "extra": list(against.extra)}
    found["ok"] = ok
    if fmt == "json":
        print_json(found)
    else:
        _print_verify(check, against, ok)
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


def _print_verify(check: BundleCheck, against: DirectoryCheck | None, ok: bool) -> None:
    files = len(check.manifest.get("files", {}))
    if check.ok:
        out.print(f"[green]✓[/] {escape(str(check.folder))}: {files} files match the manifest "
                  f"(SHA-256 {check.manifest_sha256})")
    for problem in check.problems:
        err.print(f"  [red]✗[/] {escape(problem)}", soft_wrap=True)
    if against is not None:
        out.print(f"  accounts in the directory: {against.present:,} present, "
                  f"{len(against.purged):,} deleted by a purge since")
        for key in against.missing:
            err.print(f"  [red]✗[/] missing from the directory (and no purge of it in the "
                      f"audit log): {escape(key)}", soft_wrap=True)
        for key in against.extra:
            err.print(f"  [red]✗[/] in the directory, not in the bundle: {escape(key)} (a "
                      "purge keeps it)", soft_wrap=True)
    if not ok:
        err.print("[red]the bundle does not verify[/]: a purge deletes none of this partner's "
                  "accounts until it does")
