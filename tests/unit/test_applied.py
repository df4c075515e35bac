"""The partners' CSV files as last applied: kept whole, used for a held partner's host files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssc_infra.core.errors import InventoryError
from ssc_infra.sources.applied import FOLDER, kept_since, remember
from ssc_infra.sources.files import FilesSource, load_holding
from tests.conftest import TODAY
from tests.unit.test_inventory import BAD_ROW, apply_edits


def test_a_held_partner_is_rendered_from_its_files_as_last_applied(mini: Path,
                                                                     tmp_path: Path) -> None:
    state = tmp_path / "state"
    source = FilesSource(mini)
    clean = source.load_for_run(TODAY, (), state, {})
    source.remember(clean, ["alpha", "beta"], state, TODAY)
    assert (state / FOLDER / "people/beta.csv").read_text() == \
        (mini / "people/beta.csv").read_text()

    apply_edits(mini, [{"file": "people/beta.csv", "replace": list(BAD_ROW)}])
    held = load_holding(mini, TODAY)
    assert kept_since(held.data_files, held.held, state) is not None
    run = source.load_for_run(TODAY, (), state, {})
    assert set(run.copies) == {"alpha", "beta"} and run.applied_ever == frozenset({"alpha", "beta"})
    region = source.with_applied(run, held.held, state, TODAY)
    assert region is not None and run.region == region  # the run stands in beta's copy
    assert region.partner("beta") == clean.region.partner("beta")
    assert region.partner("alpha") == held.region.partner("alpha")
    assert (mini / "people/beta.csv").read_text().count("2021-04-31") == 1  # left as it was


def test_without_a_kept_copy_there_is_no_region(mini: Path, tmp_path: Path) -> None:
    apply_edits(mini, [{"file": "people/beta.csv", "replace": list(BAD_ROW)}])
    held = load_holding(mini, TODAY)
    assert kept_since(held.data_files, held.held, tmp_path) is None
    source = FilesSource(mini)
    run = source.load_for_run(TODAY, (), tmp_path, {})
    assert run.copies == {} and run.applied_ever is None
    assert source.with_applied(run, held.held, tmp_path, TODAY) is None


def test_a_path_outside_the_inventory_is_never_copied(mini: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    remember(mini, {"alpha": ("../outside.csv", "/etc/passwd")}, ["alpha"], state, TODAY)
    kept = {str(f.relative_to(state / FOLDER)) for f in (state / FOLDER).rglob("*")
            if f.is_file()}
    assert kept == {"applied.json", "partners/alpha.yaml"}  # its own partner file only
    assert kept_since({"alpha": ("../outside.csv",)}, ["alpha"], state) is None


def test_a_run_for_some_partners_holds_only_those_it_was_asked_for(mini: Path,
                                                                   tmp_path: Path) -> None:
    apply_edits(mini, [{"file": "people/beta.csv", "replace": list(BAD_ROW)}])
    source = FilesSource(mini)
    everyone = source.load_for_run(TODAY, (), tmp_path, {})
    assert everyone.partners == ("alpha",) and list(everyone.shown) == ["beta"]
    assert everyone.hosts_held  # no kept copy of beta's files
    just_alpha = source.load_for_run(TODAY, ("alpha",), tmp_path, {})
    assert just_alpha.partners == ("alpha",) and just_alpha.shown == {}
    with pytest.raises(InventoryError):
        source.load_for_run(TODAY, ("beta",), tmp_path, {})
