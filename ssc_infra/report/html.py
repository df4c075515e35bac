"""The nightly drift report as one self-contained HTML page (pure: data in, text out).

The page loads nothing: its CSS is inline and allowed by its hash alone, its charts are inline
SVG drawn here, and its Content-Security-Policy forbids every other source (no script runs,
nothing is fetched, no form goes anywhere). Every value comes from the directory, the tenants
and the HR exports, so every value is hostile: the template is Jinja2 with autoescape, values
are only ever text or escaped attribute values, and what goes into attributes beyond that is
ours (numbers, class names, anchors made from positions).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from ssc_infra.core.errors import SscError
from ssc_infra.core.packaged import REPORT_TEMPLATES, package_of
from ssc_infra.report.nightly import BACKENDS, KINDS, UNMANAGED, TrendPoint

PAGE_TEMPLATE = "drift.html.j2"
STYLESHEET = "drift.css"
ITEMS_SHOWN = 200  # per partner on the page; the JSON holds every item
TEXT_SHOWN = 300  # characters of one value on the page (a 10,000-character name is data too)

# chart geometry, in SVG user units
BAR_WIDTH, BAR_ROW, BAR_LABEL = 330, 22, 130
TREND_WIDTH, TREND_HEIGHT = 520, 160
SPARK_WIDTH, SPARK_HEIGHT = 90, 18


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str  # one of our class names
    title: str  # hostile text: escaped by the template


@dataclass(frozen=True)
class BarRow:
    y: float
    text_y: float
    anchor: str
    code: str
    total: int
    total_x: float
    rects: tuple[Rect, ...]


@dataclass(frozen=True)
class TrendBar:
    rect: Rect
    label: str  # shown below some bars
    label_x: float
    value: int
    value_y: float
    latest: bool


def render_page(report: Mapping[str, Any], trend: Sequence[TrendPoint],
                skipped: Sequence[str], json_name: str) -> str:
    """The page of one report.

    Args:
        report: `nightly.report_data`'s JSON data.
        trend: the reports of the trend, oldest first, this one last.
        skipped: earlier reports left out of the trend, with why.
        json_name: the file name of this report's JSON, for the footer.
    """
    env = page_environment()
    css = inline_css(STYLESHEET)
    partners = list(report["partners"])
    summary = report["summary"]
    anchors = {p["code"]: f"p-{n}" for n, p in enumerate(partners, start=1)}
    sections = []
    for n, p in enumerate(partners):
        counts = summary["partners"][p["code"]]
        kinds = [(k, counts["by_kind"][k]) for k in [*(k.value for k in KINDS), UNMANAGED]
                 if counts["by_kind"][k]]
        items = p["items"]
        sections.append({
            "code": p["code"], "name": p["name"], "anchor": anchors[p["code"]],
            "held": p["held"], "counts": counts, "kinds": kinds,
            "items": [_item_view(i) for i in items[:ITEMS_SHOWN]],
            "more": max(0, len(items) - ITEMS_SHOWN),
            "prev": anchors[partners[n - 1]["code"]] if n > 0 else "",
            "next": anchors[partners[n + 1]["code"]] if n + 1 < len(partners) else "",
        })
    page = env.get_template(PAGE_TEMPLATE).render(
        report=report, css=Markup(css), style_hash=Markup(style_source(css)), sections=sections,
        total=summary["total"], backends=[b.value for b in BACKENDS],
        bars=_bars(partners, summary["partners"], anchors),
        bars_height=max(1, len(partners)) * BAR_ROW + 8, bar_width=BAR_LABEL + BAR_WIDTH + 60,
        trend=_trend_bars(trend), trend_width=TREND_WIDTH, trend_height=TREND_HEIGHT + 34,
        sparks={p["code"]: _spark([t.partners.get(p["code"], 0) for t in trend])
                for p in partners},
        spark_width=SPARK_WIDTH, spark_height=SPARK_HEIGHT, trend_count=len(trend),
        skipped=skipped, json_name=json_name, items_shown=ITEMS_SHOWN,
        verdict_class={0: "ok", 2: "drift"}.get(int(report["result"]["exit_code"]), "error"),
    )
    return page


def page_environment() -> jinja2.Environment:
    try:
        loader = jinja2.PackageLoader(*package_of(REPORT_TEMPLATES))
    except (ValueError, ImportError) as e:  # an install without its package data
        raise SscError(f"the report's page template is missing ({e}): the installation is "
                       "incomplete, reinstall ssc-infra") from e
    # autoescape for every template, whatever its name: the page is HTML throughout
    return jinja2.Environment(loader=loader, autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def inline_css(name: str) -> str:
    from ssc_infra.core.packaged import packaged

    try:
        text = packaged(f"{REPORT_TEMPLATES}/{name}").read_text(encoding="utf-8")
    except OSError as e:
        raise SscError(f"the report's {name} is missing ({e}): the installation is "
                       "incomplete, reinstall ssc-infra") from e
    if "</" in text:  # it goes into a <style> element as it is
        raise SscError(f"the report's {name} holds '</': not a stylesheet for inline use")
    return text


def style_source(css: str) -> str:
    """The Content-Security-Policy source that allows exactly this stylesheet."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + "…"


def _item_view(item: Mapping[str, Any]) -> dict[str, Any]:
    people = [{"what": p["what"], "home": _short(p["home"]), "label": _short(p["label"])}
              for p in item.get("people", [])[:ITEMS_SHOWN]]
    return {"status": item["status"], "backend": item["backend"], "kind": item["kind"],
            "action": item["action"] or "report", "key": _short(item["key"]),
            "label": _short(item["label"]), "detail": _short(item["detail"]),
            "destructive": bool(item["destructive"]), "people": people}


def _bars(partners: Sequence[Mapping[str, Any]], counts: Mapping[str, Mapping[str, Any]],
          anchors: Mapping[str, str]) -> list[BarRow]:
    """One bar per partner, its items stacked by backend; the longest fills the width."""
    most = max([int(counts[p["code"]]["items"]) for p in partners] + [1])
    rows: list[BarRow] = []
    for n, p in enumerate(partners):
        code = p["code"]
        y = 4 + n * BAR_ROW
        x = float(BAR_LABEL)
        rects: list[Rect] = []
        for backend in BACKENDS:
            value = int(counts[code]["by_backend"][backend.value])
            if not value:
                continue
            width = BAR_WIDTH * value / most
            rects.append(Rect(round(x, 1), y, round(max(width, 1.0), 1), BAR_ROW - 6,
                              f"b-{backend.value}",
                              f"{code or 'shared'}: {value:,} in {backend.value}"))
            x += width
        total = int(counts[code]["items"])
        rows.append(BarRow(y, y + BAR_ROW - 10, anchors[code], code or "shared", total,
                           round(x + 6, 1), tuple(rects)))
    return rows


def _trend_bars(trend: Sequence[TrendPoint]) -> list[TrendBar]:
    """A bar per report, its height the report's items; dates below every few bars."""
    if not trend:
        return []
    most = max([t.items for t in trend] + [1])
    slot = TREND_WIDTH / max(len(trend), 1)
    every = max(1, len(trend) // 8)
    bars: list[TrendBar] = []
    for n, point in enumerate(trend):
        height = (TREND_HEIGHT - 20) * point.items / most
        x = n * slot + slot * 0.15
        y = TREND_HEIGHT - height
        latest = n == len(trend) - 1
        css = "t-latest" if latest else {0: "t-ok", 2: "t-drift"}.get(point.exit_code,
                                                                        "t-error")
        label = point.today if (n % every == 0 or latest) else ""
        bars.append(TrendBar(
            Rect(round(x, 1), round(y, 1), round(slot * 0.7, 1), round(max(height, 1.0), 1),
                 css, f"{point.today} ({point.created}): {point.items:,} items"),
            label, round(x + slot * 0.35, 1), point.items, round(max(y - 4, 10), 1), latest))
    return bars


def _spark(values: Sequence[int]) -> str:
    """A sparkline's points ("x,y x,y ..."): numbers only."""
    if not values:
        return ""
    most = max([*values, 1])
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    return " ".join(f"{round(n * step, 1)},"
                    f"{round(SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * v / most, 1)}"
                    for n, v in enumerate(values))
