"""The ssc_homes Ansible module's logic and the config checker's own checks, on a temp folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, playbook_module

PLAYBOOKS = ROOT / "playbooks"
CHECKER = PLAYBOOKS / "files" / "ssc-check"


homes_module = playbook_module("ssc_homes")


def params(root: Path, names: list[str], **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "spec": {"homes_dir": "/srv/homes", "archive_dir": "/srv/archive/homes",
                 "partners": ["alpha"],
                 "shares": [{"partner": "alpha", "path": "/srv/shares/alpha"}],
                 "homes": [{"partner": "alpha", "name": n, "owner": f"SSC\\{n}"}
                           for n in names]},
        "root": str(root), "only_partners": None, "mode": "0700", "unknown_owner": "keep",
        "max_archive": 50, "hold_archive": [], "allow_archive": {},
    }
    values.update(extra)
    return values


def test_creates_homes_and_share_then_nothing_on_a_second_run(tmp_path: Path) -> None:
    first = homes_module.run(params(tmp_path, ["jdevries", "wbuma"]), check_mode=False)
    assert first["created"] == ["alpha/jdevries", "alpha/wbuma"]
    assert first["shares"] == [{"partner": "alpha", "path": "/srv/shares/alpha"}]
    home = tmp_path / "srv/homes/alpha/wbuma"
    assert home.is_dir() and (home.stat().st_mode & 0o777) == 0o700
    second = homes_module.run(params(tmp_path, ["jdevries", "wbuma"]), check_mode=False)
    assert not any(second[k] for k in ("created", "archived", "restored", "fixed", "shares"))


def test_check_mode_reports_and_touches_nothing(tmp_path: Path) -> None:
    result = homes_module.run(params(tmp_path, ["wbuma"]), check_mode=True)
    assert result["created"] == ["alpha/wbuma"]
    assert not (tmp_path / "srv").exists()


def test_a_leavers_home_is_archived_with_its_files_and_restored_on_return(
        tmp_path: Path) -> None:
    homes_module.run(params(tmp_path, ["jdevries", "wbuma"]), check_mode=False)
    (tmp_path / "srv/homes/alpha/wbuma/notes.txt").write_text("keep me")
    gone = homes_module.run(params(tmp_path, ["jdevries"]), check_mode=False)
    assert gone["archived"] == ["alpha/wbuma"]
    archived = tmp_path / "srv/archive/homes/alpha/wbuma/notes.txt"
    assert archived.read_text() == "keep me"
    back = homes_module.run(params(tmp_path, ["jdevries", "wbuma"]), check_mode=False)
    assert back["restored"] == ["alpha/wbuma"]
    assert (tmp_path / "srv/homes/alpha/wbuma/notes.txt").read_text() == "keep me"


def test_too_many_homes_to_archive_holds_that_partner_back(tmp_path: Path) -> None:
    names = [f"user{n}" for n in range(10)]
    homes_module.run(params(tmp_path, names), check_mode=False)
    result = homes_module.run(params(tmp_path, names[:2], max_archive=3), check_mode=False)
    assert result["archived"] == []
    assert "would archive 8 homes of alpha (limit 3)" in result["held"]["alpha"]
    assert len(list((tmp_path / "srv/homes/alpha").iterdir())) == 10
    allowed = homes_module.run(params(tmp_path, names[:2], max_archive=3,
                                      allow_archive={"alpha": 8}), check_mode=False)
    assert len(allowed["archived"]) == 8 and allowed["held"] == {}  # --allow-disable alpha=8
    assert len(list((tmp_path / "srv/archive/homes/alpha").iterdir())) == 8


def test_a_partner_held_by_the_account_guard_keeps_its_homes(tmp_path: Path) -> None:
    homes_module.run(params(tmp_path, ["jdevries", "wbuma"]), check_mode=False)
    result = homes_module.run(params(tmp_path, ["jdevries"], hold_archive=["alpha"]),
                              check_mode=False)
    assert result["archived"] == [] and result["held"] == {}
    assert (tmp_path / "srv/homes/alpha/wbuma").is_dir()


def test_only_partners_leaves_the_others_alone(tmp_path: Path) -> None:
    result = homes_module.run(params(tmp_path, ["wbuma"], only_partners=["beta"]),
                              check_mode=False)
    assert result["created"] == [] and not (tmp_path / "srv/homes/alpha").exists()


def test_unknown_owner_fails_the_item_unless_kept(tmp_path: Path) -> None:
    result = homes_module.run(params(tmp_path, ["nosuchuser1"], unknown_owner="fail"),
                              check_mode=False)
    assert "does not resolve" in result["errors"][0]
    assert not (tmp_path / "srv/homes/alpha/nosuchuser1").exists()


def test_owner_that_resolves_owns_the_home(tmp_path: Path) -> None:
    spec = params(tmp_path, ["daemon"])
    homes_module.run(spec, check_mode=False)
    import pwd

    assert (tmp_path / "srv/homes/alpha/daemon").stat().st_uid == pwd.getpwnam("daemon").pw_uid


def check(kind: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECKER), kind, str(path)],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("text", "error"), [
    ("[Interface]\nListenPort = 51820\n\n[Peer]\nPublicKey = not-a-key\nAllowedIPs = 10.0.0.2/32\n",
     "PublicKey is not a WireGuard key"),
    ("[Peer]\nPublicKey = UE5xV2bRcKr8CU5VZzqV2WZ6sA6Hjs3ppw7ZxbIUhUo=\n"
     "[Peer]\nPublicKey = UE5xV2bRcKr8CU5VZzqV2WZ6sA6Hjs3ppw7ZxbIUhUo=\n",
     "public key used by two peers"),
    ("garbage line\n", "not `Key = value` in a section"),
])
def test_wireguard_check_rejects_bad_keys(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "wg0.conf").write_text(text)
    done = check("wireguard", tmp_path / "wg0.conf")
    assert done.returncode == 1 and error in done.stderr


def test_vdi_check_rejects_an_assignment_to_an_unknown_pool(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        '{"format": "ssc-infra/vdi-assignments/v1", "pools": [{"name": "alpha-desktop"}],'
        ' "assignments": [{"user": "jan@alpha.example", "pool": "beta-desktop"}]}')
    done = check("vdi", tmp_path / "a.json")
    assert done.returncode == 1 and "jan@alpha.example" in done.stderr


def test_a_home_moves_along_with_its_person_in_a_merge_before_anything_is_archived(
        tmp_path: Path) -> None:
    first = params(tmp_path, ["jdevries", "wbuma"])
    homes_module.run(first, check_mode=False)
    (tmp_path / "srv/homes/alpha/wbuma/notes.txt").write_text("mine")
    merged = params(tmp_path, [])
    merged["spec"]["partners"] = ["alpha", "gamma"]
    merged["spec"]["homes"] = [{"partner": "gamma", "name": "wbuma", "owner": "SSC\\wbuma",
                                "moved_from": "alpha"}]
    planned = homes_module.run(merged, check_mode=True)
    assert planned["moved"] == ["gamma/wbuma"] and planned["archived"] == ["alpha/jdevries"]
    assert planned["created"] == []
    result = homes_module.run(merged, check_mode=False)
    assert result["moved"] == ["gamma/wbuma"] and result["created"] == []
    assert (tmp_path / "srv/homes/gamma/wbuma/notes.txt").read_text() == "mine"
    assert not (tmp_path / "srv/homes/alpha/wbuma").exists()
    assert result["archived"] == ["alpha/jdevries"]  # the one who did not come along
    again = homes_module.run(merged, check_mode=False)
    assert again["moved"] == [] and again["archived"] == []
