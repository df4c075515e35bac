"""The report folder of `drift --report DIR`: tonight's report written into it, old ones pruned.

The page (`ssc_infra.report.html`) and the JSON (`ssc_infra.report.nightly.report_data`) each
under a name of their own and again as `latest.*`, 0600 and atomically; only the newest `keep`
reports stay.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from ssc_infra.report.html import render_page
from ssc_infra.report.nightly import (
    DEFAULT_KEEP,
    LATEST,
    TREND_POINTS,
    DriftRun,
    read_trend,
    report_data,
    report_names,
    trend_point,
)
from ssc_infra.state.folder import StateError, write_private


def report_folder_names(folder: Path) -> list[str]:
    """The reports in the folder, oldest first; StateError when it cannot be listed."""
    try:
        return report_names(folder)
    except OSError as e:
        raise StateError(f"cannot list the report folder {folder}: {e.strerror}") from e


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote and removed."""

    json: Path
    html: Path
    latest_json: Path
    latest_html: Path
    pruned: tuple[str, ...]  # the stems of the reports removed (older than the newest `keep`)
    skipped: tuple[str, ...]  # earlier reports left out of the trend, with why


def write_report(folder: Path, run: DriftRun, keep: int = DEFAULT_KEEP) -> ReportFiles:
    """Write tonight's report into `folder` (made 0700 when missing), then prune old ones.

    Args:
        folder: the report folder; only files named like its reports are ever removed.
        run: what the drift check found.
        keep: how many reports stay, tonight's included (at least 1).

    Raises:
        StateError: the folder or a file cannot be written (the message names it).
    """
    keep = max(1, keep)
    data = report_data(run)
    stem = f"drift-report-{run.created.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    before = min(keep, TREND_POINTS) - 1  # earlier reports in the trend
    earlier = report_folder_names(folder)[-before:] if before > 0 and folder.is_dir() else []
    points, skipped = read_trend(folder, earlier)
    page = render_page(data, [*points, trend_point(data)], skipped, f"{stem}.json")
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    files = ReportFiles(folder / f"{stem}.json", folder / f"{stem}.html",
                        folder / f"{LATEST}.json", folder / f"{LATEST}.html", (), tuple(skipped))
    # The page first: a report's JSON is what the next trend reads, so it comes once the
    # page it belongs with is there.
    write_private(files.html, page)
    write_private(files.json, text)
    write_private(files.latest_html, page)
    write_private(files.latest_json, text)
    stems = report_folder_names(folder)
    old = [s for s in stems if s != stem][: max(0, len(stems) - keep)]
    for gone in old:
        for suffix in (".json", ".html"):
            try:
                (folder / f"{gone}{suffix}").unlink(missing_ok=True)
            except OSError as e:
                raise StateError(f"cannot remove the old report {folder / gone}{suffix}: "
                                 f"{e.strerror}; tonight's report is written, remove it "
                                 "by hand") from e
    return ReportFiles(files.json, files.html, files.latest_json, files.latest_html,
                       tuple(old), tuple(skipped))
