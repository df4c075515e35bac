"""The usage report in the forms people and other systems read: a table on the screen, CSV
for the billing spreadsheet, a self-contained HTML page, from one `UsageReport` (its JSON is
`UsageReport.to_json`).

Every value is data in every form: rich `Text` cells and escaped markup on the screen; every
CSV cell through `state.csv_row` (a partner name `=HYPERLINK(...)` never becomes a formula);
Jinja2 with autoescape for HTML, with no scripts, links or resources from elsewhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import jinja2
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ssc_infra.core.model import Workplace
from ssc_infra.core.packaged import TEMPLATES, package_of
from ssc_infra.run.usage import PartnerUsage, Totals, UsageReport
from ssc_infra.state.folder import csv_row

UNKNOWN = "unknown"
HTML_TEMPLATE = "usage-report.html.j2"
_KINDS = tuple(w.value for w in Workplace)


def human_bytes(value: int | None) -> str:
    """1,234,567 bytes as "1.2 MiB"; None as "unknown"."""
    if value is None:
        return UNKNOWN
    size = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{value:,} bytes" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{value:,} bytes"  # pragma: no cover - the loop returns at TiB


def _n(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value:,}"


def _licences(values: dict[str, int] | None) -> str:
    if values is None:
        return UNKNOWN
    return ", ".join(f"{sku} {n:,}" for sku, n in values.items()) or "none"


# -- the screen ---------------------------------------------------------------------------


def usage_table(report: UsageReport) -> Table:
    """One row per partner and a total, every cell `Text`."""
    table = Table(title=Text(f"Usage {report.month} — {report.region}, target {report.target}, "
                             f"measured {report.measured:%Y-%m-%d %H:%M} UTC"),
                  title_justify="left")
    table.add_column("partner", no_wrap=True)
    for heading in ("accounts", "unmanaged", "vdi", "laptop", "thin client"):
        table.add_column(heading, justify="right")
    table.add_column("licences", overflow="fold")
    table.add_column("homes", justify="right")
    table.add_column("archive", justify="right")
    table.add_column("services", overflow="fold")
    for p in report.partners:
        table.add_row(*(Text(cell) for cell in _screen_row(p)))
    total = report.totals()
    table.add_section()
    table.add_row(*(Text(cell) for cell in _screen_total(total)))
    return table


def _screen_row(p: PartnerUsage) -> list[str]:
    a, w = p.accounts, p.workplaces
    return [p.partner, _n(a.active if a else None), _n(a.unmanaged if a else None),
            *(_n(getattr(w, k) if w else None) for k in _KINDS),
            _licences(p.licences), human_bytes(p.storage.homes if p.storage else None),
            human_bytes(p.storage.archive if p.storage else None), ", ".join(p.services)]


def _screen_total(t: Totals) -> list[str]:
    licences = ", ".join(f"{sku} {_n(n)}" for sku, n in t.licences.items()) or "none"
    return [f"total ({t.partners})", _n(t.accounts_active), _n(t.accounts_unmanaged),
            *(_n(t.workplaces[k]) for k in _KINDS), licences, human_bytes(t.storage_homes),
            human_bytes(t.storage_archive), ""]


def unknown_lines(report: UsageReport) -> Iterator[str]:
    """Markup lines: each figure that could not be measured, and why."""
    for p in report.partners:
        for u in p.unknown:
            yield (f"[yellow]unknown:[/] {escape(p.partner)} {u.figure.value}: "
                   f"{escape(u.reason)}")


# -- CSV ----------------------------------------------------------------------------------


def csv_header(report: UsageReport) -> list[str]:
    return ["month", "partner", "name", "identity", "accounts_active", "accounts_unmanaged",
            *(f"workplaces_{k}" for k in _KINDS), *(f"licences_{s}" for s in report.skus),
            "licence_source", "home_bytes", "archive_bytes", "services", "unknown"]


def usage_csv(report: UsageReport) -> str:
    """One row per partner, then the totals row; unknown figures say `unknown`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(csv_row(csv_header(report)))
    for p in report.partners:
        a, w, s = p.accounts, p.workplaces, p.storage
        writer.writerow(csv_row([
            report.month, p.partner, p.name or "", p.identity.value if p.identity else "",
            _cell(a.active if a else None), _cell(a.unmanaged if a else None),
            *(_cell(getattr(w, k) if w else None) for k in _KINDS),
            *(_cell(p.licences.get(sku, 0) if p.licences is not None else None)
              for sku in report.skus),
            p.licence_source or "", _cell(s.homes if s else None),
            _cell(s.archive if s else None), " ".join(p.services),
            "; ".join(f"{u.figure.value}: {u.reason}" for u in p.unknown)]))
    t = report.totals()
    writer.writerow(csv_row([
        report.month, "total", f"{t.partners} partners", "", _cell(t.accounts_active),
        _cell(t.accounts_unmanaged), *(_cell(t.workplaces[k]) for k in _KINDS),
        *(_cell(t.licences[sku]) for sku in report.skus), "", _cell(t.storage_homes),
        _cell(t.storage_archive), "", "" if report.complete else "some figures are unknown"]))
    return buffer.getvalue()


def _cell(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


# -- HTML ---------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(*package_of(TEMPLATES)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update({"bytes": human_bytes, "n": _n})
    return env


def usage_html(report: UsageReport) -> str:
    """A self-contained page (styles inline, nothing loaded from elsewhere), every value
    escaped by Jinja2's autoescape."""
    variables: dict[str, Any] = {"report": report, "totals": report.totals(),
                                 "skus": report.skus, "kinds": _KINDS}
    return _environment().get_template(HTML_TEMPLATE).render(variables)
