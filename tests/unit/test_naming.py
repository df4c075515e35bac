"""Naming policy as data cases: tests/cases/naming/{single,region}.yaml."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
import yaml

from ssc_infra.core.errors import NamingError
from ssc_infra.core.model import NamingPolicy, Person, Workplace
from ssc_infra.core.naming import ExistingName, assign_names, base_names, transliterate
from tests.conftest import CASES

POLICY = NamingPolicy()
SUFFIXES = {"alpha": "alpha.example", "beta": "beta.example"}


def _cases(name: str) -> list[Any]:
    cases = yaml.safe_load((CASES / "naming" / name).read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["name"]) for c in cases]


def _person(partner: str, employee_id: str, given: str, infix: str, surname: str,
            start: date = date(2020, 1, 1)) -> Person:
    return Person(partner, employee_id, given, infix, surname, "", "", "s", Workplace.VDI, start)


@pytest.mark.parametrize("case", _cases("single.yaml"))
def test_names_of_one_person(case: dict[str, Any]) -> None:
    given, infix, surname = case["person"]
    names = base_names(_person("alpha", "1", given, infix, surname), POLICY, "alpha.example")
    for attribute, expected in case["expect"].items():
        assert getattr(names, attribute) == expected, attribute
    assert len(names.sam) <= 20


@pytest.mark.parametrize("case", _cases("region.yaml"))
def test_names_across_the_region(case: dict[str, Any]) -> None:
    people = [_person(p, e, g, i, s, d) for p, e, g, i, s, d in case["people"]]
    existing = {(k.partition("/")[0], k.partition("/")[2]): ExistingName(v["sam"], v["upn"])
                for k, v in case.get("existing", {}).items()}
    names = assign_names(people, POLICY, SUFFIXES, existing, case.get("reserved", []))
    for key, expected in case["expect"].items():
        partner, _, employee_id = key.partition("/")
        got = names[(partner, employee_id)]
        if isinstance(expected, str):
            assert got.sam == expected, key
        else:
            assert (got.sam, got.upn) == (expected["sam"], expected["upn"]), key
    # The same input gives the same names, whatever order the people come in.
    shuffled = list(reversed(people))
    assert assign_names(shuffled, POLICY, SUFFIXES, existing, case.get("reserved", [])) == names


def _crowd(n: int, seed: int) -> list[Person]:
    rng = random.Random(seed)
    given = ["Jan", "Jelle", "Johan", "Jildou", "Wâtse", "Sjoerd", "Sytse", "Ytsje"]
    surnames = [("de", "Vries"), ("", "Bûmâ"), ("van der", "Meer"), ("", "Dijkstra")]
    people = []
    for i in range(n):
        infix, surname = rng.choice(surnames)
        start = date(2000, 1, 1).toordinal() + rng.randrange(9000)
        people.append(_person(rng.choice(["alpha", "beta"]), str(i), rng.choice(given), infix,
                              surname, date.fromordinal(start)))
    return people


def test_adding_a_person_renames_nobody_when_names_are_fed_back() -> None:
    people = _crowd(400, 1)
    before = assign_names(people, POLICY, SUFFIXES)
    existing = {k: ExistingName(v.sam, v.upn) for k, v in before.items()}
    newcomer = _person("alpha", "new", "Jan", "de", "Vries", date(1999, 1, 1))  # earliest!
    after = assign_names([*people, newcomer], POLICY, SUFFIXES, existing)
    assert {k: after[k] for k in before} == before
    assert after[("alpha", "new")].sam not in {n.sam for n in before.values()}


def test_adding_a_later_starter_renames_nobody_even_without_stored_names() -> None:
    people = _crowd(400, 2)
    before = assign_names(people, POLICY, SUFFIXES)
    newcomer = _person("beta", "new", "Jan", "de", "Vries", date(2030, 1, 1))
    after = assign_names([newcomer, *people], POLICY, SUFFIXES)
    assert {k: after[k] for k in before} == before


def test_every_logon_name_is_unique_in_a_big_region() -> None:
    people = _crowd(20_000, 3)
    names = assign_names(people, POLICY, SUFFIXES)
    sams = [n.sam for n in names.values()]
    assert len(set(sams)) == len(sams) == 20_000
    assert max(len(s) for s in sams) <= 20
    upns = [n.upn for n in names.values()]
    assert len(set(upns)) == len(upns)


def test_an_unknown_placeholder_names_itself() -> None:
    with pytest.raises(NamingError, match=r"unknown placeholder \{lastname\}"):
        assign_names([_person("alpha", "1", "Jan", "", "Vries")],
                     NamingPolicy(sam="{given_initial}{lastname}"), SUFFIXES)


def test_a_name_without_letters_is_refused_with_the_person_named() -> None:
    with pytest.raises(NamingError, match="alpha/7"):
        assign_names([_person("alpha", "7", "---", "", "'")], POLICY, SUFFIXES)


def test_transliteration_keeps_plain_ascii() -> None:
    assert transliterate("Wâtse Bûmâ, Ĳsbrand, Æbbe") == "Watse Buma, IJsbrand, Aebbe"


def test_a_name_change_keeps_the_upn_unless_the_policy_says_it_follows_the_name() -> None:
    from ssc_infra.core.model import NamingPolicy as Policy
    from ssc_infra.core.naming import ExistingName as Kept
    from ssc_infra.core.naming import assign_names as names_for

    married = _person("beta", "1", "Jildou", "", "Postma")
    kept = {married.key: Kept("jhoekstra", "jildou.hoekstra@x.nl")}
    stays = names_for([married], Policy(), {married.partner: "x.nl"}, kept)[married.key]
    assert (stays.sam, stays.upn) == ("jhoekstra", "jildou.hoekstra@x.nl")
    follows = names_for([married], Policy(upn_follows_name=True), {married.partner: "x.nl"},
                        kept)[married.key]
    assert (follows.sam, follows.upn) == ("jhoekstra", "jildou.postma@x.nl")
    # a numbered UPN of the same name is still the name: no new address on every run
    numbered = {married.key: Kept("jpostma", "jildou.postma2@x.nl")}
    again = names_for([married], Policy(upn_follows_name=True), {married.partner: "x.nl"},
                      numbered)[married.key]
    assert again.upn == "jildou.postma2@x.nl"
