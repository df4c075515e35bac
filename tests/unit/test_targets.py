"""Targets: a plain-text bind is for the local lab on loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssc_infra.run.targets import Target, TargetError, ad_settings, load_target, write_target

SECRET = "Wachtwurd-fan-de-tsjinst"


def _targets(tmp_path: Path, name: str, url: str, **ad: object) -> Path:
    password = tmp_path / "bind.pass"
    password.write_text(SECRET + "\n")
    entry = {"url": url, "bind_user": "svc-ssc-infra@ssc.frl", "base_dn": "DC=ssc,DC=frl",
             "bind_password_file": str(password), **ad}
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({name: {"ad": entry}}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "url"), [
    ("acceptance", "ldap://dc01.ssc.frl:389"),
    ("production", "ldap://10.1.0.5:389"),
    ("production", "ldap://127.0.0.1:389"),  # even on loopback: only the lab target may
    ("Lab", "ldap://127.0.0.1:389"),
    ("lab-acceptance", "ldap://127.0.0.1:389"),
])
def test_insecure_is_refused_for_every_target_but_the_lab(tmp_path: Path, name: str,
                                                          url: str) -> None:
    path = _targets(tmp_path, name, url, insecure=True)
    with pytest.raises(TargetError) as raised:
        load_target(path, name)
    message = str(raised.value)
    assert str(path) in message and repr(name) in message
    assert "in clear" in message and "starttls: true" in message  # why, and what to do
    assert SECRET not in message


@pytest.mark.parametrize("url", [
    "ldap://dc01.ssc.frl:389",
    "ldap://10.1.0.5:389",
    "ldap://127.0.0.1.example.net:389",  # a name that only looks like loopback
    "ldap://0.0.0.0:389",
    "ldap://[fe80::1]:389",
    "ldap://:389",
])
def test_the_lab_may_be_insecure_only_on_a_loopback_address(tmp_path: Path, url: str) -> None:
    path = _targets(tmp_path, "lab", url, insecure=True)
    with pytest.raises(TargetError, match="only with a loopback URL"):
        load_target(path, "lab")


@pytest.mark.parametrize("url", [
    "ldap://127.0.0.1:389", "ldap://127.41.7.203:389", "ldap://[::1]:389", "ldap://localhost",
])
def test_a_lab_on_loopback_may_bind_in_plain_text(tmp_path: Path, url: str) -> None:
    path = _targets(tmp_path, "lab", url, insecure=True)
    settings = ad_settings(load_target(path, "lab"), "lab")
    assert settings.insecure and settings.url == url


def test_a_target_built_in_code_is_checked_as_well(tmp_path: Path) -> None:
    target = Target.model_validate({"ad": {
        "url": "ldap://dc01.ssc.frl", "bind_user": "svc@ssc.frl", "base_dn": "DC=ssc,DC=frl",
        "bind_password_env": "SSC_AD_PASSWORD", "insecure": True}})
    with pytest.raises(TargetError, match=r"'acceptance'.*in clear"):
        ad_settings(target, "acceptance")


def test_without_insecure_every_target_loads(tmp_path: Path) -> None:
    path = _targets(tmp_path, "production", "ldaps://dc01.ssc.frl:636")
    settings = ad_settings(load_target(path, "production"), "production")
    assert not settings.insecure


def test_write_target_merge_replaces_only_the_keys_given(tmp_path: Path) -> None:
    path = _targets(tmp_path, "lab", "ldap://127.0.0.1:389")
    write_target(path, "other", {"ad": {"url": "ldaps://dc.example:636"}})
    netbox = {"url": "http://127.0.0.1:50731", "token_file": "/x/api.token"}
    write_target(path, "lab", {"netbox": netbox}, merge=True)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["lab"]["netbox"] == netbox
    assert data["lab"]["ad"]["url"] == "ldap://127.0.0.1:389"  # the rest as it was
    assert data["other"] == {"ad": {"url": "ldaps://dc.example:636"}}
    write_target(path, "lab", {"netbox": netbox})  # without merge: the entry as given
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["lab"] == {"netbox": netbox}
