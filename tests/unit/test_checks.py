"""render --check where a daemon's checker is not installed: skipped, naming the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssc_infra.core.model import HostRole
from ssc_infra.hosts.checks import NEEDS, check_file
from ssc_infra.hosts.render import ROLE_FILES


def test_every_role_file_has_a_known_check() -> None:
    assert {f.check for files in ROLE_FILES.values() for f in files} <= set(NEEDS)
    assert set(ROLE_FILES) == set(HostRole)


def test_a_missing_checker_is_skipped_with_the_package_that_brings_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("ssc_infra.hosts.checks.shutil.which", lambda _: None)
    result = check_file("dhcp01", "etc/kea/kea-dhcp4.conf", ("kea-dhcp4", "-t"), tmp_path / "x")
    assert result.status == "skipped"
    assert "apt-get install kea-dhcp4-server" in result.message


def test_our_own_check_needs_nothing_installed(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr("ssc_infra.hosts.checks.shutil.which", lambda _: None)
    bad = tmp_path / "assignments.json"
    bad.write_text('{"format": "something/else"}')
    result = check_file("vdi01", "etc/ssc-vdi/assignments.json", ("ssc-check", "vdi"), bad)
    assert result.status == "failed"
    assert "unknown format 'something/else'" in result.message


KEY_A = "RCCCPP3m8cJrMPkOx90B5Ih1NKIPCw0Ew27YDnHg/Xc="
KEY_B = "+g/wFp3JV1Z0BmZ2z7C064kCxEJp2hz2umbT+LbUsQA="
WG_HEAD = "[Interface]\nAddress = 10.250.0.1/16\nListenPort = 51820\n"


@pytest.mark.parametrize(("body", "reason"), [
    (f"Bogus = 1\n[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.2/32\n",
     "line 4: unknown key Bogus in [Interface]"),
    (f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.2/32\n"
     f"[Peer]\nPublicKey = {KEY_B}\nAllowedIPs = 10.0.0.0/8\n",
     "line 9: AllowedIPs 10.0.0.0/8 is outside the tunnel network 10.250.0.0/16"),
    (f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.1.0/24\n"
     f"[Peer]\nPublicKey = {KEY_B}\nAllowedIPs = 10.250.1.2/32\n",
     "line 9: AllowedIPs 10.250.1.2/32 overlaps 10.250.1.0/24 of line 6"),
    (f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.2/32\n"
     f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.3/32\n",
     "line 8: public key used by two peers"),
    ("[Peer]\nPublicKey = bm90IGEga2V5\nAllowedIPs = 10.250.0.2/32\n",
     "line 5: PublicKey is not a WireGuard key"),
    ("[Peer]\nAllowedIPs = 10.250.0.2/32\n", "line 4: a peer without a PublicKey"),
    (f"[Peer]\nPublicKey = {KEY_A}\nPublicKey = {KEY_B}\nAllowedIPs = 10.250.0.2/32\n",
     "line 6: PublicKey twice in one peer"),
    (f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.2/32\n[Evil]\nX = 1\n",
     "line 7: unknown section [Evil]"),
    (f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.2/32\nguest ok\n",
     "line 7: not `Key = value` in a section"),
    (f"[Peer]\nPublicKey = {KEY_A}\nAllowedIPs = 10.250.0.999/32\n",
     "line 6: AllowedIPs 10.250.0.999/32 is not a network"),
])
def test_a_wireguard_file_with_a_peer_or_line_it_should_not_have_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str, reason: str) -> None:
    monkeypatch.setattr("ssc_infra.hosts.checks.shutil.which", lambda name: f"/usr/bin/{name}")
    wg = tmp_path / "wg0.conf"
    wg.write_text(WG_HEAD + body, encoding="utf-8")
    result = check_file("vpn01", "etc/wireguard/wg0.conf", ("ssc-check", "wireguard"), wg)
    assert result.status == "failed"
    assert reason in result.message
