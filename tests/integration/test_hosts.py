"""Workplace hosts with real Ansible and the daemons' real checkers.

The hosts are folders (connection local, a root per host); one test goes over SSH to a private
sshd in a network namespace of its own (on a loopback port where namespaces cannot be made).
Files and folders are checked on disk, not in our own results.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.core.desired import derive
from ssc_infra.core.model import Region
from ssc_infra.core.packaged import TEMPLATES, packaged_path
from ssc_infra.core.plan import ObjectKind
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.hosts.ansible import AnsibleSettings, RunResult
from ssc_infra.hosts.backend import Bundle, make_bundle, refused_files, run_hosts
from ssc_infra.hosts.checks import check_host_files
from ssc_infra.hosts.render import TEMPLATES_ENV, HostFiles, render_host_files, write_host_files
from ssc_infra.sources.files import load
from tests.conftest import MINI, TODAY
from tests.integration.conftest import unavailable

pytestmark = pytest.mark.integration
CHECKERS = ("testparm", "kea-dhcp4", "freeradius", "wg", "wg-quick")
INSTALL = ("make test (or: apt-get install -y --no-install-recommends kea-dhcp4-server "
           "wireguard-tools freeradius openssh-server samba-common-bin)")


@pytest.fixture(scope="module", autouse=True)
def validators() -> None:
    missing = [c for c in CHECKERS if shutil.which(c) is None]
    if missing:
        unavailable("the config checkers", f"{', '.join(missing)} not found", INSTALL)


@dataclass
class Lab:
    region: Region
    state: Path
    roots: Path
    settings: AnsibleSettings

    def bundle(self, today: date = TODAY, region: Region | None = None) -> Bundle:
        region = region or self.region
        return make_bundle(region, derive(region, today), self.state)

    def run(self, bundle: Bundle, check: bool = False, region: Region | None = None,
            settings: AnsibleSettings | None = None) -> RunResult:
        return run_hosts(region or self.region, bundle, settings or self.settings, self.state,
                         check=check)

    def file(self, host: str, path: str) -> Path:
        return self.roots / host / path


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    roots = tmp_path / "hosts"
    settings = AnsibleSettings(connection="local", root=roots, reload=False,
                               unknown_owner="keep")
    state = tmp_path / "state"
    state.mkdir()
    return Lab(load(MINI, TODAY), state, roots, settings)


def changed(result: RunResult) -> dict[str, int]:
    return {h.host: h.changed for h in result.hosts.values() if h.changed}


def test_apply_installs_every_hosts_files_and_the_homes(lab: Lab) -> None:
    bundle = lab.bundle()
    result = lab.run(bundle)
    assert not result.failed_hosts, result.failed_hosts
    for host, files in json.loads((bundle.path / "manifest.json").read_text())["hosts"].items():
        for path in files:
            if not path.startswith(".ssc/"):
                assert lab.file(host, path).read_text() == (bundle.path / host / path).read_text()
    homes = lab.file("fs01", "srv/homes/alpha")
    names = sorted(p.name for p in homes.iterdir())
    assert len(names) == 4 and "wbuma" in names
    assert all((homes / n).stat().st_mode & 0o777 == 0o700 for n in names)
    assert lab.file("fs01", "srv/shares/alpha").is_dir()
    assert not lab.file("fs01", "srv/homes/beta").exists()  # cloud-only partner
    key = lab.file("vpn01", "etc/wireguard/private.key")
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text().strip()) == 44
    kea = subprocess.run(["kea-dhcp4", "-t", str(lab.file("dhcp01", "etc/kea/kea-dhcp4.conf"))],
                         capture_output=True, text=True, check=False)
    assert kea.returncode == 0, kea.stdout


def test_second_run_changes_nothing_and_check_mode_agrees(lab: Lab) -> None:
    bundle = lab.bundle()
    lab.run(bundle)
    assert changed(lab.run(bundle, check=True)) == {}
    again = lab.run(bundle)
    assert changed(again) == {} and not again.changes


def test_check_mode_shows_the_diff_and_changes_nothing(lab: Lab) -> None:
    result = lab.run(lab.bundle(), check=True)
    paths = {c.key for c in result.changes}
    assert "fs01:/etc/samba/smb.conf" in paths
    assert "dhcp01:/etc/kea/kea-dhcp4.conf" in paths
    homes = next(c for c in result.changes if c.kind is ObjectKind.HOMES)
    assert "alpha/wbuma" in homes.after["create"] and homes.partner == "alpha"
    assert homes.before["sha256"]  # what the plan saw, for apply to check
    assert not lab.file("fs01", "etc/samba/smb.conf").exists()
    assert not lab.file("fs01", "srv/homes").exists()
    assert any(c.key.startswith("vpn01:") and "private key" in c.key for c in result.changes)
    assert not lab.file("vpn01", "etc/wireguard/private.key").exists()


def test_a_leavers_home_goes_to_the_archive_never_away(lab: Lab) -> None:
    lab.run(lab.bundle())
    (lab.file("fs01", "srv/homes/alpha/wbuma") / "report.docx").write_text("work")
    # Wâtse Bûmâ (1001) leaves at the end of the year; a month later the home is archived.
    alpha = lab.region.partner("alpha")
    leaving = tuple(replace(p, end_date=date(2026, 12, 31)) if p.employee_id == "1001" else p
                    for p in alpha.people)
    region = replace(lab.region, partners=(replace(alpha, people=leaving),
                                           lab.region.partner("beta")))
    later = date(2027, 2, 1)
    result = lab.run(lab.bundle(later, region), region=region)
    assert not result.failed_hosts, result.failed_hosts
    assert not lab.file("fs01", "srv/homes/alpha/wbuma").exists()
    assert lab.file("fs01", "srv/archive/homes/alpha/wbuma/report.docx").read_text() == "work"
    wg = lab.file("vpn01", "etc/wireguard/wg0.conf").read_text()
    assert "ALP-L-0001" not in wg  # the leaver's laptop lost its VPN access


def radius_device_vlans(text: str) -> dict[str, int]:
    """MAC -> VLAN, from a users file as FreeRADIUS reads it: an entry per unindented line."""
    vlans: dict[str, int] = {}
    name = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            token = line.split("\t", 1)[0]
            name = token.strip('"') if token != "DEFAULT" else ""
        elif name and "Tunnel-Private-Group-Id" in line:
            vlans[name] = int(line.split(":=", 1)[1].strip().rstrip(",").strip('"'))
    return vlans


def test_every_thin_client_gets_its_address_in_the_vlan_radius_puts_it_on(lab: Lab) -> None:
    """Both files as installed on the lab hosts, read back: RADIUS's VLAN holds the reservation."""
    result = lab.run(lab.bundle())
    assert not result.failed_hosts, [h.messages for h in result.failed_hosts]
    kea = json.loads(lab.file("dhcp01", "etc/kea/kea-dhcp4.conf").read_text())
    reserved = {r["hw-address"].replace(":", ""): (ip_network(s["subnet"]), r["ip-address"])
                for s in kea["Dhcp4"]["subnet4"] for r in s["reservations"]}
    vlans = radius_device_vlans(
        lab.file("rad01", "etc/freeradius/3.0/mods-config/files/authorize").read_text())
    subnet_of_vlan = {site.vlan: site.subnet for p in lab.region.partners for site in p.sites}
    thin_clients = {d.mac.replace(":", "").lower() for p in lab.region.partners
                    for d in p.devices if d.mac}
    assert set(vlans) == set(reserved) == thin_clients
    for mac, (subnet, address) in reserved.items():
        assert subnet == subnet_of_vlan[vlans[mac]], mac
        assert ip_address(address) in subnet, mac
    # Beta's thin client at alpha's shared site: beta's VLAN 210, beta's subnet.
    assert vlans["020000000202"] == 210 and str(reserved["020000000202"][0]) == "10.30.0.0/24"


def test_bad_value_is_rejected_by_the_checker_and_the_old_config_kept(lab: Lab) -> None:
    good = lab.bundle()
    lab.run(good)
    before = lab.file("fs01", "etc/samba/smb.conf").read_text()
    authorize = "etc/freeradius/3.0/mods-config/files/authorize"
    radius_before = lab.file("rad01", authorize).read_text()
    # A render gone wrong (a bundle consistent with its manifest, as ssc-infra would write it):
    # the daemons' checkers are the last line, on the control machine and on each host.
    edits: dict[tuple[str, str], Callable[[str], str]] = {
        ("fs01", "etc/samba/smb.conf"):
            lambda t: t.replace("read only = no", "read only = maybe", 1),
        ("rad01", authorize): lambda t: t.replace("Tunnel-Type := VLAN", "Tunnel-Type := VLANX", 1),
        ("vpn01", "etc/wireguard/wg0.conf"):
            lambda t: t + "\n[Peer]\nPublicKey = bm90IGEga2V5\nAllowedIPs = 10.250.9.9/32\n",
    }
    manifest = json.loads((good.path / "manifest.json").read_text())
    files = {h: {p: (good.path / h / p).read_text() for p in paths}
             for h, paths in manifest["hosts"].items()}
    for (host, path), edit in edits.items():
        files[host][path] = edit(files[host][path])
    rendered = HostFiles(files)
    bad = write_host_files(rendered, lab.state / "bad-bundle")
    good = replace(good, digest=rendered.digest())
    # A plan (check mode) already says which files apply would refuse, and why.
    checked = lab.run(replace(good, path=bad), check=True)
    refused = {r.host: r.message for r in refused_files(lab.region, replace(good, path=bad),
                                                         checked)}
    assert set(refused) == {"fs01", "rad01", "vpn01"}
    assert "not boolean" in refused["fs01"] and "VLANX" in refused["rad01"]
    result = lab.run(replace(good, path=bad))
    failed = {h.host: h.messages for h in result.failed_hosts}
    assert set(failed) == {"fs01", "rad01", "vpn01"}
    assert "testparm rejects" in " ".join(failed["fs01"])
    assert "VLANX" in " ".join(failed["rad01"])
    assert "not a WireGuard key" in " ".join(failed["vpn01"])
    assert lab.file("fs01", "etc/samba/smb.conf").read_text() == before
    assert lab.file("rad01", authorize).read_text() == radius_before
    assert result.hosts["dhcp01"].failed is False


def test_render_check_runs_the_same_checkers_before_any_host_sees_the_files(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["render", "--inventory", str(MINI), "--today", TODAY.isoformat(), "--out", str(out),
            "--state-dir", str(tmp_path / "state"), "--check"]
    good = CliRunner().invoke(main, args)
    assert good.exit_code == 0, good.output
    assert "5 files checked" in good.output
    kea = out / "dhcp01" / "etc/kea/kea-dhcp4.conf"
    kea.write_text(kea.read_text().replace('"valid-lifetime"', '"valid-lifetimex"', 1))
    results = {r.host: r for r in check_host_files(load(MINI, TODAY), out)}
    assert results["dhcp01"].status == "failed" and "valid-lifetimex" in results["dhcp01"].message
    assert {r.status for h, r in results.items() if h != "dhcp01"} == {"ok"}
    templates = tmp_path / "templates"  # an engineer's slip in a template
    with packaged_path(TEMPLATES) as packaged:
        shutil.copytree(packaged, templates)
    smb = templates / "smb.conf.j2"
    smb.write_text(smb.read_text().replace("read only = no", "read only = maybe", 1))
    cli = Path(sys.executable).parent / "ssc-infra"
    bad = subprocess.run([str(cli), *[str(tmp_path / "bad") if a == str(out) else a for a in args]],
                         env={**os.environ, TEMPLATES_ENV: str(templates)},
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1, bad.stderr
    assert "refused fs01:/etc/samba/smb.conf" in bad.stderr and "not boolean" in bad.stderr
    assert "1 of 5 files refused" in bad.stderr


def test_hostile_values_that_the_formats_can_hold_render_files_every_checker_accepts(
        tmp_path: Path) -> None:
    """Escaped, not refused: the real daemons' checkers read the files, and nothing is added."""
    region = load(MINI, TODAY)
    alpha = replace(region.partner("alpha"), name='Gemeente [X] ; #1 = "ja" 50/50 ŝ')
    region = replace(region, name="SSC Test [#] ; = ŝ",
                     partners=(alpha, region.partner("beta")))
    w = derive_workplaces(region, derive(region, TODAY))
    peer = replace(w.vpn.peers[0], employee_id="900201\n[Peer]\nPublicKey = "
                   "UE5xV2bRcKr8CU5VZzqV2WZ6sA6Hjs3ppw7ZxbIUhUo=\nAllowedIPs = 10.0.0.0/8")
    subnets = tuple(replace(s, site='werf", "subnet": "0.0.0.0/0\n}\\ ŝ ✓')
                    if s.site == "alp-werf" else s for s in w.dhcp.subnets)
    user = replace(w.vdi.assignments[0], upn='a"}, {"user": "root\n</script> ŝ')
    w = replace(w, vpn=replace(w.vpn, peers=(peer, *w.vpn.peers[1:])),
                dhcp=replace(w.dhcp, subnets=subnets),
                vdi=replace(w.vdi, assignments=(user, *w.vdi.assignments[1:])))
    out = write_host_files(render_host_files(region, w), tmp_path / "out")
    results = {r.host: (r.status, r.message) for r in check_host_files(region, out)}
    assert results == {h: ("ok", "") for h in ("fs01", "vpn01", "dhcp01", "rad01", "vdi01")}
    wg = (out / "vpn01" / "etc/wireguard/wg0.conf").read_text()
    assert wg.count("[Peer]") == len(w.vpn.peers) + 1  # the one more is inside the comment
    assert "10.0.0.0/8" not in [line.split("=")[-1].strip() for line in wg.splitlines()
                                if line.startswith("AllowedIPs")]


def test_an_unreachable_host_is_reported_while_the_others_converge(lab: Lab) -> None:
    settings = replace(lab.settings, host_vars={"vpn01": {
        "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": free_port(),
        "ansible_ssh_common_args": "-o ConnectTimeout=3 -o StrictHostKeyChecking=no"}})
    result = lab.run(lab.bundle(), settings=settings)
    assert [h.host for h in result.failed_hosts] == ["vpn01"]
    assert result.hosts["vpn01"].unreachable
    assert lab.file("fs01", "etc/samba/smb.conf").exists()
    assert lab.file("dhcp01", "etc/kea/kea-dhcp4.conf").exists()
    assert not lab.file("vpn01", "etc/wireguard/wg0.conf").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    address: str
    port: int
    key: Path
    namespace: str | None  # the network namespace it runs in, None: the host's loopback


def network_namespace(name: str, host_end: str, ns_end: str) -> bool:
    """A namespace of its own joined to ours by one veth pair; False where this one may not."""
    if shutil.which("ip") is None:
        return False
    steps = [["ip", "netns", "add", name],
             ["ip", "link", "add", f"{name}a", "type", "veth", "peer", "name", f"{name}b"],
             ["ip", "link", "set", f"{name}b", "netns", name],
             ["ip", "addr", "add", f"{host_end}/30", "dev", f"{name}a"],
             ["ip", "link", "set", f"{name}a", "up"],
             ["ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_end}/30", "dev", f"{name}b"],
             ["ip", "netns", "exec", name, "ip", "link", "set", f"{name}b", "up"],
             ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]]
    for step in steps:
        if subprocess.run(step, capture_output=True, check=False).returncode != 0:
            drop_namespace(name)
            return False
    return True


def drop_namespace(name: str) -> None:
    subprocess.run(["ip", "link", "del", f"{name}a"], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A private sshd that lets root in with a key made for the test.

    It runs in a network namespace of its own, reached over a veth pair, so the playbook
    really crosses a network; where namespaces cannot be made it listens on a loopback port.
    """
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        unavailable("sshd", "openssh-server is not installed", INSTALL)
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    shutil.copy(d / "client.pub", d / "authorized_keys")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation folder, as the package makes
    net = os.getpid() % 16000  # a /30 in 10.254.0.0/16 and a name of this run's own
    link = ip_network("10.254.0.0/16")[net * 4]
    host_end, ns_end = str(link + 1), str(link + 2)
    namespace: str | None = f"sscns{net}"
    if network_namespace(f"sscns{net}", host_end, ns_end):
        address, port, prefix = ns_end, 22, ["ip", "netns", "exec", f"sscns{net}"]
    else:
        namespace, address, port, prefix = None, "127.0.0.1", free_port(), []
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {address}\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        f"PasswordAuthentication no\nStrictModes no\nPidFile {d / 'sshd.pid'}\n"
        "UsePAM no\nSubsystem sftp internal-sftp\n")
    proc = subprocess.Popen([*prefix, "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(50):
            try:
                socket.create_connection((address, port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    unavailable("sshd", proc.stderr.read() if proc.stderr else "exited", INSTALL)
                time.sleep(0.1)
        yield Sshd(address, port, d / "client", namespace)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if namespace:
            drop_namespace(namespace)


def test_playbook_runs_over_ssh(lab: Lab, sshd: Sshd) -> None:
    ssh = {"ansible_connection": "ssh", "ansible_host": sshd.address, "ansible_port": sshd.port,
           "ansible_user": "root", "ansible_ssh_private_key_file": str(sshd.key),
           "ansible_python_interpreter": "/usr/bin/python3",
           "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"}
    settings = replace(lab.settings, host_vars={"dhcp01": ssh, "vdi01": ssh})
    result = lab.run(lab.bundle(), settings=settings)
    assert not result.failed_hosts, [h.messages for h in result.failed_hosts]
    assert result.hosts["dhcp01"].changed >= 1
    assert json.loads(lab.file("vdi01", "etc/ssc-vdi/assignments.json").read_text())["pools"]
    assert changed(lab.run(lab.bundle(), settings=settings)) == {}


RADIUS_SITE = """server default {
\tlisten {
\t\ttype = auth
\t\tipaddr = 127.0.0.1
\t\tport = %d
\t}
\tauthorize {
\t\tfiles
\t\tpap
\t}
\tauthenticate {
\t\tAuth-Type PAP {
\t\t\tpap
\t\t}
\t}
\tpost-auth {
\t}
}
"""


def radius_reply(port: int, user: str, password: str) -> str:
    done = subprocess.run(["radclient", "-x", "-r", "1", "-t", "3", f"127.0.0.1:{port}", "auth",
                           "testing123"], input=f"User-Name={user},User-Password={password}\n",
                          capture_output=True, text=True, check=False)
    return done.stdout


def test_radius_puts_a_device_on_its_own_partners_vlan_at_a_shared_site(lab: Lab) -> None:
    """The rendered users file in a real FreeRADIUS, asked by radclient as a switch would."""
    if shutil.which("radclient") is None:
        unavailable("radclient", "freeradius-utils is not installed", INSTALL)
    lab.run(lab.bundle())
    # freeradius reads its configuration as the freerad user: a folder it can reach.
    with tempfile.TemporaryDirectory(prefix="ssc-radius-") as tmp:
        Path(tmp).chmod(0o755)
        conf = Path(tmp) / "raddb"
        subprocess.run(["cp", "-a", "/etc/freeradius/3.0", str(conf)], check=True)
        ask_radius(lab, conf)


def ask_radius(lab: Lab, conf: Path) -> None:
    for site in (conf / "sites-enabled").iterdir():
        site.unlink()
    (conf / "mods-enabled" / "eap").unlink()
    port = free_port()
    (conf / "sites-enabled" / "test").write_text(RADIUS_SITE % port)
    # Two people with a test password (the directory checks passwords in production), then the
    # rendered file exactly as the role installed it.
    people = ('"jildou.hoekstra@beta.example"\tCleartext-Password := "pw-beta"\n'
              '\tFall-Through = Yes\n\n'
              '"watse.buma@alpha.example"\tCleartext-Password := "pw-alpha"\n'
              '\tFall-Through = Yes\n\n')
    installed = lab.file("rad01", "etc/freeradius/3.0/mods-config/files/authorize").read_text()
    users = conf / "mods-config" / "files" / "authorize"
    users.write_text(people + installed)
    users.chmod(0o644)
    proc = subprocess.Popen(["freeradius", "-X", "-d", str(conf)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            if "VLAN" in radius_reply(port, "020000000202", "020000000202"):
                break
            if proc.poll() is not None:
                pytest.fail(f"freeradius did not start: {proc.stdout.read()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.1)
        # Beta's thin client stands at alpha's shared site hq: it gets beta's VLAN.
        assert 'Tunnel-Private-Group-Id:0 = "210"' in radius_reply(port, "020000000202",
                                                                   "020000000202")
        assert 'Tunnel-Private-Group-Id:0 = "110"' in radius_reply(
            port, "watse.buma@alpha.example", "pw-alpha")
        assert 'Tunnel-Private-Group-Id:0 = "210"' in radius_reply(
            port, "jildou.hoekstra@beta.example", "pw-beta")
        assert "Access-Reject" in radius_reply(port, "watse.buma@alpha.example", "wrong")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
