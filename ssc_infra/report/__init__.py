"""Reports: what people read (`text`: rich markup, every value escaped) and what scripts read
(`json`), from the same results; `summary` holds the figures `show` prints either way."""

from ssc_infra.report.json import json_text, jsonable, problems_json
from ssc_infra.report.summary import PartnerSummary, summarise
from ssc_infra.report.text import (
    HostPart,
    console,
    desired_lines,
    host_lines,
    host_summary,
    partner_table,
    plan_lines,
    plan_summary,
    problem_lines,
    shown_plan_lines,
)

__all__ = [
    "HostPart",
    "PartnerSummary",
    "console",
    "desired_lines",
    "host_lines",
    "host_summary",
    "json_text",
    "jsonable",
    "partner_table",
    "plan_lines",
    "plan_summary",
    "problem_lines",
    "problems_json",
    "shown_plan_lines",
    "summarise",
]
