"""The sample generator: deterministic, the committed sample never drifts from it."""

from __future__ import annotations

from pathlib import Path

from ssc_infra.sources.files import load
from ssc_infra.sources.sample import generate, write
from tests.conftest import ROOT, TODAY


def test_the_committed_sample_is_what_the_generator_makes() -> None:
    sample = generate(people=4500, seed=2026)
    committed = {
        str(p.relative_to(ROOT / "inventory")): p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "inventory").rglob("*"))
        if p.is_file() and p.name != "ansible_hosts.py"  # the Ansible entry point, not data
    }
    assert committed.keys() == sample.files.keys()
    changed = [rel for rel, text in sample.files.items() if committed[rel] != text]
    assert not changed, f"regenerate with `ssc-infra sample --out inventory --force`: {changed}"


def test_the_sample_region_has_4500_people_over_11_partners() -> None:
    region = load(ROOT / "inventory", TODAY)
    assert len(region.partners) == 11
    assert abs(region.people_count - 4500) <= 225
    sizes = {p.code: len(p.people) for p in region.partners}
    assert max(sizes, key=lambda c: sizes[c]) == "leeuwarden"
    assert min(sizes, key=lambda c: sizes[c]) == "vlieland"
    rex = {p.code for p in region.partners if "zaaksysteem-rex" in p.services}
    afas = {p.code for p in region.partners if "afas-ehrm" in p.services}
    assert rex == {"leeuwarden", "waadhoeke", "noardeast-fryslan"}
    assert afas == {"fumo", "ameland", "vlieland", "schiermonnikoog"}
    assert all("m365-e3" in p.services for p in region.partners)
    leavers = sum(1 for p in region.partners for x in p.people if x.has_left(TODAY))
    joiners = sum(1 for p in region.partners for x in p.people if x.start_date > TODAY)
    assert leavers > 10 and joiners > 5
    shared = [s for p in region.partners for s in p.sites if s.shared]
    assert len(shared) >= 3


def test_a_bigger_region_is_valid_and_deterministic(tmp_path: Path) -> None:
    first = generate(people=20_000, seed=5, partners=40)
    assert first.files == generate(people=20_000, seed=5, partners=40).files
    assert first.files != generate(people=20_000, seed=6, partners=40).files
    write(first, tmp_path)
    region = load(tmp_path, TODAY)
    assert len(region.partners) == 40
    assert region.people_count == 20_000
