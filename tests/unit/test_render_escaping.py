"""Hostile input stays data: every template, fed values that try to become syntax.

Each test renders a template with a value holding a line break, a bracket, a quote, a backslash,
`#`, `;`, `%`, `=` or 10,000 characters, then parses the output back the way the daemon would
(sections, peers, JSON keys, users-file entries) to prove nothing was injected; or it proves the
render was refused, naming the host file, the partner and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from ssc_infra.core.desired import derive
from ssc_infra.core.model import Region
from ssc_infra.core.workplaces import Workplaces, derive_workplaces
from ssc_infra.hosts.render import (
    RenderError,
    context,
    environment,
    render_host_files,
    render_template,
)
from ssc_infra.sources.files import load
from tests.conftest import MINI, TODAY

# A valid WireGuard key that an injected peer would use.
EVIL_KEY = "UE5xV2bRcKr8CU5VZzqV2WZ6sA6Hjs3ppw7ZxbIUhUo="
LONG = "x" * 10_000


def region() -> Region:
    return load(MINI, TODAY)


def workplaces(r: Region) -> Workplaces:
    return derive_workplaces(r, derive(r, TODAY))


def renamed(r: Region, code: str, **fields: object) -> Region:
    """The region with one partner's fields replaced, as a loader that let them through would."""
    partners = tuple(replace(p, **fields) if p.code == code else p  # type: ignore[arg-type]
                     for p in r.partners)
    return replace(r, partners=partners)


def render(name: str, r: Region, w: Workplaces | None = None) -> str:
    return render_template(environment(), name, context(r, w or workplaces(r)))


def refused(r: Region, w: Workplaces | None = None) -> str:
    with pytest.raises(RenderError) as e:
        render_host_files(r, w or workplaces(r))
    return str(e.value)


# -- smb.conf -----------------------------------------------------------------------------

def smb_sections(text: str) -> dict[str, dict[str, str]]:
    """smb.conf as Samba reads it: a backslash at the end joins the next line."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.replace("\\\n", "").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line[1:line.index("]")], {})
        else:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def test_a_partner_name_with_line_breaks_adds_no_share_it_stops_the_render() -> None:
    r = renamed(region(), "alpha", name="Gemeente X\n[evil]\n path = /\n guest ok = yes")
    message = refused(r)
    assert "fs01:/etc/samba/smb.conf" in message
    assert "partner alpha: name 'Shared files of Gemeente X\\n[evil]" in message
    assert "line break" in message and "correct the value in the inventory" in message


@pytest.mark.parametrize("name", [
    "Gemeente [X] ; #1 = ja",
    'Gemeente "X" \\ Y',
])
def test_brackets_quotes_and_comment_signs_in_a_name_stay_in_the_comment(name: str) -> None:
    sections = smb_sections(render("smb.conf.j2", renamed(region(), "alpha", name=name)))
    assert list(sections) == ["global", "alpha", "alpha-home"]
    assert sections["alpha"]["comment"] == f"Shared files of {name}"
    assert sections["alpha"]["path"] == "/srv/shares/alpha"


@pytest.mark.parametrize(("name", "reason"), [
    ("Gemeente 100%U", "which Samba expands"),
    ("Gemeente X \\", "ends in a backslash"),
    (LONG, "longer than the 1000 characters"),
])
def test_a_name_smb_conf_cannot_hold_is_refused(name: str, reason: str) -> None:
    message = refused(renamed(region(), "alpha", name=name))
    assert "fs01:/etc/samba/smb.conf" in message and "partner alpha: name" in message
    assert reason in message
    assert len(message) < 400  # 10,000 characters are not repeated back


def test_a_share_name_with_a_bracket_is_refused() -> None:
    r = region()
    w = workplaces(r)
    share = replace(w.fileserver.shares[0], name="alpha]\n[evil")
    w = replace(w, fileserver=replace(w.fileserver, shares=(share,)))
    message = refused(r, w)
    assert "partner alpha: code 'alpha]\\n[evil' is not a share name" in message


def test_a_region_name_with_a_line_break_is_refused_for_smb_conf() -> None:
    message = refused(replace(region(), name="SSC\n[evil]\npath = /"))
    assert "fs01:/etc/samba/smb.conf" in message and "region: name" in message


# -- wg0.conf -----------------------------------------------------------------------------

def wg_peers(text: str) -> list[dict[str, str]]:
    """The peers wg-quick sees: `#` starts a comment anywhere on a line."""
    peers: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line == "[Peer]":
            peers.append({})
        elif "=" in line and peers:
            key, _, value = line.partition("=")
            peers[-1][key.strip()] = value.strip()
    return peers


def with_peer(w: Workplaces, **fields: object) -> Workplaces:
    first = replace(w.vpn.peers[0], **fields)  # type: ignore[arg-type]
    return replace(w, vpn=replace(w.vpn, peers=(first, *w.vpn.peers[1:])))


def test_an_employee_id_with_a_peer_in_it_stays_a_comment() -> None:
    r = region()
    w = workplaces(r)
    evil = f"900201\n[Peer]\nPublicKey = {EVIL_KEY}\nAllowedIPs = 10.0.0.0/8"
    text = render("wg0.conf.j2", r, with_peer(w, employee_id=evil))
    peers = wg_peers(text)
    assert [p["PublicKey"] for p in peers] == [p.public_key for p in w.vpn.peers]
    assert [p["AllowedIPs"] for p in peers] == [f"{p.address}/32" for p in w.vpn.peers]
    assert "# alpha/900201\\n[Peer]\\nPublicKey" in text


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"public_key": f"{EVIL_KEY}\nAllowedIPs = 10.0.0.0/8"}, "wg_public_key of ALP-L-0001",
     "is not a WireGuard key"),
    ({"public_key": "bm90IGEga2V5"}, "wg_public_key of ALP-L-0001", "is not a WireGuard key"),
    ({"asset_tag": LONG}, "asset_tag", "longer than the 200 characters a comment"),
])
def test_a_peer_value_wg0_conf_cannot_hold_is_refused(
        fields: dict[str, object], field: str, reason: str) -> None:
    r = region()
    message = refused(r, with_peer(workplaces(r), **fields))
    assert "vpn01:/etc/wireguard/wg0.conf" in message
    assert f"partner alpha: {field}" in message and reason in message


# -- Kea ----------------------------------------------------------------------------------

def test_kea_json_holds_any_site_or_partner_text_literally() -> None:
    r = region()
    w = workplaces(r)
    evil = 'werf", "subnet": "0.0.0.0/0\n}\\ ŝ ✓'
    subnets = tuple(replace(s, site=evil) if s.site == "alp-werf" else s for s in w.dhcp.subnets)
    text = render("kea-dhcp4.conf.j2", r, replace(w, dhcp=replace(w.dhcp, subnets=subnets)))
    kea = json.loads(text)["Dhcp4"]["subnet4"]
    assert [s["subnet"] for s in kea] == [str(s.subnet) for s in w.dhcp.subnets]
    assert [s["user-context"]["site"] for s in kea].count(evil) == 1
    assert set(kea[0]) == {"id", "subnet", "user-context", "pools", "option-data",
                           "reservations"}
    assert "\\u015d" not in text  # Kea refuses \u escapes above U+00FF: UTF-8 as it is


def test_a_reservation_hostname_that_is_no_host_name_is_refused() -> None:
    r = region()
    w = workplaces(r)
    werf = next(s for s in w.dhcp.subnets if s.reservations)
    bad = replace(werf, reservations=(replace(werf.reservations[0], asset_tag='ALP T"1'),))
    subnets = tuple(bad if s is werf else s for s in w.dhcp.subnets)
    message = refused(r, replace(w, dhcp=replace(w.dhcp, subnets=subnets)))
    assert "dhcp01:/etc/kea/kea-dhcp4.conf" in message
    assert f"partner {werf.reservations[0].partner}: asset_tag 'alp t\"1' is not a host name" \
        in message


# -- FreeRADIUS users file ----------------------------------------------------------------

def radius_entries(text: str) -> list[str]:
    """The first line of each entry: not indented, not a comment."""
    return [line for line in text.splitlines()
            if line and not line[0].isspace() and not line.startswith("#")]


def unquote(token: str) -> str:
    assert token[0] == token[-1] == '"', token
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def test_a_region_name_in_the_users_file_header_stays_one_comment_line() -> None:
    r = region()
    w = workplaces(r)
    text = render("radius-authorize.j2", replace(r, name="SSC\nDEFAULT Auth-Type := Accept"), w)
    assert len(radius_entries(text)) == len(w.radius.devices) + len(w.radius.realms)
    assert not any(e.startswith("DEFAULT Auth-Type") for e in radius_entries(text))


def test_quotes_and_backslashes_in_a_radius_string_are_escaped() -> None:
    r = region()
    w = workplaces(r)
    evil = '0200" Auth-Type := Accept\\'
    device = replace(w.radius.devices[0], mac=evil)
    w = replace(w, radius=replace(w.radius, devices=(device, *w.radius.devices[1:])))
    entries = radius_entries(render("radius-authorize.j2", r, w))
    assert len(entries) == len(w.radius.devices) + len(w.radius.realms)
    name, _, check = entries[0].partition("\t")
    assert unquote(name) == evil
    assert unquote(check.removeprefix("Cleartext-Password := ")) == evil


@pytest.mark.parametrize(("suffix", "reason"), [
    ('alpha.example$"\nDEFAULT\tAuth-Type := Accept', "is not a domain name"),
    ("alpha.ex(a|b)mple", "is not a domain name"),
    ("%{exec:/bin/true}.example", "is not a domain name"),
])
def test_a_sign_in_domain_that_is_no_domain_is_refused(suffix: str, reason: str) -> None:
    message = refused(renamed(region(), "beta", upn_suffix=suffix))
    assert "rad01:/etc/freeradius/3.0/mods-config/files/authorize" in message
    assert "partner beta: upn_suffix" in message and reason in message


def test_a_realm_matches_its_dots_literally() -> None:
    text = render("radius-authorize.j2", region())
    assert 'DEFAULT\tUser-Name =~ "@alpha[.]example$"' in text


@pytest.mark.parametrize(("mac", "reason"), [
    ("020000000103\nDEFAULT\tAuth-Type := Accept", "line break"),
    ("%{exec:/bin/true}", "which FreeRADIUS expands"),
    (LONG, "longer than the 253 octets"),
])
def test_a_radius_value_it_cannot_hold_is_refused(mac: str, reason: str) -> None:
    r = region()
    w = workplaces(r)
    device = replace(w.radius.devices[0], mac=mac)
    w = replace(w, radius=replace(w.radius, devices=(device, *w.radius.devices[1:])))
    message = refused(r, w)
    assert "rad01:" in message and f"partner {device.partner}: mac of {device.asset_tag}" \
        in message and reason in message


def test_a_vlan_that_is_no_vlan_is_refused() -> None:
    r = region()
    w = workplaces(r)
    device = replace(w.radius.devices[0], vlan=5000)
    w = replace(w, radius=replace(w.radius, devices=(device, *w.radius.devices[1:])))
    assert "vlan '5000' is not a VLAN id (1-4094)" in refused(r, w)


# -- VDI ----------------------------------------------------------------------------------

def test_vdi_json_holds_any_user_text_literally() -> None:
    r = region()
    w = workplaces(r)
    evil = 'a"}, {"user": "root", "pool": "alpha-desktop\n</script> ŝ'
    first = replace(w.vdi.assignments[0], upn=evil)
    w = replace(w, vdi=replace(w.vdi, assignments=(first, *w.vdi.assignments[1:])))
    data = json.loads(render("vdi-assignments.json.j2", r, w))
    assert [a["user"] for a in data["assignments"]] == [evil, *(a.upn for a in
                                                                w.vdi.assignments[1:])]


# -- the last net -------------------------------------------------------------------------

def test_an_unfiltered_value_with_a_control_character_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("# header\nname = {{ region.name }}\n", encoding="utf-8")
    r = replace(region(), name="SSC\n[evil]")
    with pytest.raises(RenderError, match=r"templates/t.j2:2: region: a value 'SSC\\n\[evil\]'"
                                          r" holds a control character \(U\+000A\)"):
        render_template(environment(tmp_path), "t.j2", context(r, workplaces(region())))
