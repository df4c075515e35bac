"""`ssc-infra partner people`: a partner's next HR export, in its HR system's shape, taken in
over its people CSV only when the whole region loads with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from ssc_infra.cli.main import main
from ssc_infra.lifecycle.people import current_rows
from tests.conftest import TODAY

MAPPING = """encoding: cp1252
delimiter: ";"
columns: {employee_id: Medewerker, given_name: Roepnaam, infix: Voorvoegsel,
          surname: Achternaam, department: Afdeling, job_title: Functie, site: Standplaats,
          workplace: Werkplek, start_date: Datum in dienst, end_date: Datum uit dienst}
dates: ["%d-%m-%Y"]
values:
  workplace: {Laptop: laptop, Thin client: thin_client, Virtuele werkplek: vdi}
split_infix: true
"""
HEADER = ("Medewerker;Roepnaam;Voorvoegsel;Achternaam;Afdeling;Functie;Standplaats;Werkplek;"
          "Datum in dienst;Datum uit dienst\r\n")
ROWS = [
    "1001;Wâtse;;Bûmâ;Burgerzaken;Medewerker;alp-hq;Laptop;01-03-2015;\r\n",
    "1003;Jelle;de;Vries;Ruimte;Adviseur;alp-werf;Thin client;01-06-2018;\r\n",
    "1004;Ytsje;;van der Meer;Ruimte;Adviseur;alp-hq;Laptop;01-09-2020;31-01-2026\r\n",
    "1005;Anna;de;Boer-van der Wal;Financiën;Controller;alp-hq;Virtuele werkplek;"
    "01-12-2026;\r\n",
    "1006;Sytse;;van der Hiemstra;Ruimte;Adviseur;alp-hq;Laptop;01-10-2026;\r\n",
]


def _run(mini: Path, tmp_path: Path, rows: list[str], *extra: str) -> Result:
    export = tmp_path / "afas.csv"
    export.write_bytes((HEADER + "".join(rows)).encode("cp1252"))
    mapping = tmp_path / "afas.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return CliRunner().invoke(main, ["partner", "people", "alpha", "--people", str(export),
                                     "--columns", str(mapping), "--inventory", str(mini),
                                     "--today", TODAY.isoformat(), *extra])


def test_the_next_export_is_converted_counted_and_written(mini: Path, tmp_path: Path) -> None:
    result = _run(mini, tmp_path, ROWS, "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["joined"] == ["1006"] and summary["gone"] == ["1002"]
    assert summary["changed"] == [] and summary["split"] == 2
    text = (mini / "people" / "alpha.csv").read_text(encoding="utf-8")
    assert "1006,Sytse,van der,Hiemstra," in text and "1004,Ytsje,van der,Meer," in text


def test_a_bad_row_is_told_at_the_exports_line_and_nothing_is_written(
        mini: Path, tmp_path: Path) -> None:
    before = (mini / "people" / "alpha.csv").read_bytes()
    rows = [ROWS[0], "1003;Jelle;de;Vries;Ruimte;Adviseur;nergens;Thin client;01-06-2018;"
                     "\r\n", *ROWS[2:]]
    result = _run(mini, tmp_path, rows)
    assert result.exit_code == 1
    assert "afas.csv:3" in result.stderr and "unknown site 'nergens'" in result.stderr
    assert (mini / "people" / "alpha.csv").read_bytes() == before
    dry = _run(mini, tmp_path, ROWS, "--dry-run")
    assert dry.exit_code == 0 and "would write" in dry.stdout
    assert (mini / "people" / "alpha.csv").read_bytes() == before


def test_the_current_people_are_read_as_the_loader_reads_them_never_waited_on(
        tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "people").mkdir(parents=True)
    people = inventory / "people" / "alpha.csv"
    people.write_bytes(b"\xef\xbb\xbfemployee_id,given_name,infix,surname,department,job_title,"
                       b"site,workplace,start_date,end_date\r1001,W\xc3\xa2tse,,B\xc3\xbbm\xc3\xa2"
                       b",Burgerzaken,Medewerker,alp-hq,laptop,2015-03-01,\r")
    assert current_rows(inventory, "people/alpha.csv")["1001"][1] == "Wâtse"  # BOM, lone CRs
    people.unlink()
    os.mkfifo(people)
    assert current_rows(inventory, "people/alpha.csv") == {}  # a FIFO: refused at once
    people.unlink()
    people.symlink_to(tmp_path / "outside.csv")
    (tmp_path / "outside.csv").write_text("employee_id\n1\n", encoding="utf-8")
    assert current_rows(inventory, "people/alpha.csv") == {}  # outside: not followed
