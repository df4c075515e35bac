"""The problems of the inventory as text: many alike are counted, not printed one by one."""

from __future__ import annotations

from ssc_infra.core.errors import Problem
from ssc_infra.report import problem_lines
from ssc_infra.report.text import PROBLEMS_ALIKE_SHOWN


def _missing_person(line: int) -> Problem:
    return Problem("devices/alpha.csv", line, f"no person with employee_id '{line}' in 'alpha'",
                   "check the id against people/alpha.csv", "alpha")


def test_problems_alike_are_shown_up_to_a_limit_then_counted() -> None:
    problems = [_missing_person(n) for n in range(2, 27)]  # 25 alike
    problems.insert(3, Problem("people/alpha.csv", 7, "invalid start_date '2019-13-01'",
                               "write dates as YYYY-MM-DD", "alpha"))
    problems.append(Problem("devices/beta.csv", 2, "no person with employee_id '9' in 'beta'",
                            "check the id against people/beta.csv", "beta"))
    lines = list(problem_lines(problems))
    assert "The inventory has 27 problems" in lines[0]
    shown = [line for line in lines if "devices/alpha.csv:" in line]
    assert len(shown) == PROBLEMS_ALIKE_SHOWN
    assert "devices/alpha.csv:11[/]" in shown[-1]  # the first ten, in their order
    assert any("people/alpha.csv:7" in line for line in lines)  # others are not held back
    assert any("devices/beta.csv:2" in line for line in lines)  # another file counts apart
    folded = [line for line in lines if "more problems like" in line]
    assert len(folded) == 1
    assert "devices/alpha.csv[/]: 15 more problems like the 10 above" in folded[0]
    assert "validate --format json" in folded[0]


def test_up_to_the_limit_every_problem_is_shown() -> None:
    problems = [_missing_person(n) for n in range(2, 2 + PROBLEMS_ALIKE_SHOWN)]
    lines = list(problem_lines(problems))
    assert len([line for line in lines if "devices/alpha.csv:" in line]) == PROBLEMS_ALIKE_SHOWN
    assert not any("more problem" in line for line in lines)
