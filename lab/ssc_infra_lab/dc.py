"""The local lab: a throwaway Samba AD DC on a loopback address, for `lab up`, demos and tests.

Provisioning a domain takes 4 to 40 seconds, so it is done once per (domain, Samba version)
into a cache outside the repository and kept as a tarball; each DC unpacks it (under a second).
Only etc/smb.conf holds absolute paths, which are rewritten on unpacking.

The DC listens only on its loopback address, LDAP only (`server services=ldap`), with LDAPS on
636. Its certificate is issued to DC1.<domain> by the DC's own CA: clients verify it with that
CA and accept that name (`tls_names`), since they connect by address.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ldap3

from ssc_infra.core.errors import BackendError, SscError
from ssc_infra.state.folder import private_dir
from ssc_infra_lab.process import alive, cache_dir, tail, write_secret

SAMBA_PACKAGES = ("samba-ad-dc", "samba-ad-provision")
HOST_NAME = "dc1"
_LABEL = "ssc-infra-lab"


def ensure_samba_installed() -> None:
    """Install Samba AD DC from Debian's packages when it is missing (needs root)."""
    if shutil.which("samba") and shutil.which("samba-tool"):
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *SAMBA_PACKAGES]
    if os.geteuid() != 0:
        raise BackendError(f"Samba AD DC is not installed; as root run: {' '.join(command)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], command):
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 and step is command:
            raise BackendError(f"installing Samba failed ({' '.join(step)}): "
                               f"{done.stderr.strip()[-500:]}")


def samba_version() -> str:
    done = subprocess.run(["samba", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().replace("Version ", "") or "unknown"


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(20))
    return f"Lab-{core}-7!"  # upper, lower, digit and symbol: AD complexity holds


@dataclass(frozen=True)
class Template:
    tarball: Path
    password_file: Path
    build_dir: str  # the absolute path smb.conf was written with


def template(domain: str) -> Template:
    """The cached provisioned domain, made now when it is missing."""
    ensure_samba_installed()
    stem = f"samba-{domain}-{samba_version()}".replace(" ", "_").replace("/", "_")
    folder = cache_dir()
    tarball, password_file = folder / f"{stem}.tar.gz", folder / f"{stem}.pass"
    marker = folder / f"{stem}.builddir"
    if tarball.exists() and password_file.exists() and marker.exists():
        return Template(tarball, password_file, marker.read_text(encoding="utf-8"))
    password = _password()
    with tempfile.TemporaryDirectory(prefix="ssc-samba-build-", dir=folder) as tmp:
        build = Path(tmp) / "dc"
        _provision(build, domain, password)
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(build, arcname="dc")
        write_secret(password_file, password)
        marker.write_text(str(build), encoding="utf-8")
        partial.replace(tarball)
    return Template(tarball, password_file, str(build))


def _provision(target: Path, domain: str, password: str) -> None:
    realm = domain.upper()
    netbios = domain.split(".")[0].upper()[:15]
    base = ["samba-tool", "domain", "provision", f"--realm={realm}", f"--domain={netbios}",
            "--server-role=dc", "--dns-backend=NONE", f"--adminpass={password}",
            "--use-rfc2307", f"--targetdir={target}", f"--host-name={HOST_NAME}",
            "--option=interfaces=lo", "--option=bind interfaces only=yes"]
    done = subprocess.run(base, capture_output=True, text=True, check=False)
    if done.returncode != 0 and "setntacl" in (done.stderr + done.stdout):
        # Without CAP_SYS_ADMIN (some containers) the NT ACLs must live in user xattrs.
        shutil.rmtree(target, ignore_errors=True)
        done = subprocess.run([*base, "--option=acl_xattr:security_acl_name=user.NTACL"],
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackendError(f"provisioning the lab domain failed: {done.stderr.strip()[-800:]}")
    settings = subprocess.run(
        ["samba-tool", "domain", "passwordsettings", "set", "--min-pwd-age=0",
         "-H", str(target / "private" / "sam.ldb"), "-s", str(target / "etc" / "smb.conf")],
        capture_output=True, text=True, check=False)
    if settings.returncode != 0:
        raise BackendError(f"setting the lab password policy failed: {settings.stderr[-500:]}")


@dataclass(frozen=True)
class DomainController:
    """A running lab DC. The admin password is in `password_file` (0600), never here."""

    directory: Path
    address: str
    pid: int
    domain: str

    @property
    def url(self) -> str:
        return f"ldaps://{self.address}:636"

    @property
    def ca_file(self) -> Path:
        return self.directory / "private" / "tls" / "ca.pem"

    @property
    def tls_name(self) -> str:
        return f"{HOST_NAME.upper()}.{self.domain}"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.domain.split("."))

    @property
    def bind_user(self) -> str:
        return f"Administrator@{self.domain}"

    @property
    def password_file(self) -> Path:
        return self.directory / "admin.pass"

    def password(self) -> str:
        return self.password_file.read_text(encoding="utf-8").strip()


def start_dc(directory: Path, domain: str = "ssc.frl", address: str = "127.0.0.1",
             timeout: float = 90.0, fresh: bool = False) -> DomainController:
    """Start a DC from `directory`; waits until LDAPS answers.

    A new directory (or `fresh`) is unpacked from the template first; an existing one keeps
    its data, so a DC that was stopped comes back as it was. The process runs in a session
    of its own, so it outlives the command that started it (`lab up`); `stop_dc` ends it.
    """
    running = dc_status(directory)
    if running is not None and not fresh:
        return running
    if running is not None:
        stop_dc(running)
    if _port_open(address, 636):
        raise BackendError(f"something already listens on {address}:636; run `ssc-infra lab "
                           "down`, or pick another loopback address")
    if fresh or not (directory / "etc" / "smb.conf").exists():
        _unpack(directory, domain)
    elif _domain_of(directory) not in ("", domain):
        raise BackendError(f"the lab in {directory} is for {_domain_of(directory)}, not "
                           f"{domain}: start it with --fresh to replace it")
    return _run(directory, domain, address, timeout)


def _domain_of(directory: Path) -> str:
    marker = directory / "domain"
    return marker.read_text(encoding="utf-8").strip() if marker.exists() else ""


def _unpack(directory: Path, domain: str) -> None:
    made = template(domain)
    if directory.exists():
        shutil.rmtree(directory)
    private_dir(directory.parent)  # the lab's folder in the state dir: 0700 like the rest
    with tarfile.open(made.tarball) as tar:
        tar.extractall(directory.parent / f".{directory.name}.unpack", filter="tar")
    (directory.parent / f".{directory.name}.unpack" / "dc").rename(directory)
    (directory.parent / f".{directory.name}.unpack").rmdir()
    directory.chmod(0o700)  # the DC's database and keys: only its owner reads them
    conf = directory / "etc" / "smb.conf"
    conf.write_text(conf.read_text(encoding="utf-8").replace(made.build_dir, str(directory)),
                    encoding="utf-8")
    shutil.copy(made.password_file, directory / "admin.pass")
    (directory / "admin.pass").chmod(0o600)
    (directory / "domain").write_text(domain + "\n", encoding="utf-8")


def _run(directory: Path, domain: str, address: str, timeout: float) -> DomainController:
    conf = directory / "etc" / "smb.conf"
    run = directory / "run"
    run.mkdir(exist_ok=True)
    command = [
        "samba", "-i", "-M", "single", "-s", str(conf),
        "--option=server services=ldap", f"--option=interfaces={address}/8",
        "--option=bind interfaces only=yes", "--option=ldb:nosync=true",
        f"--option=pid directory={run}", f"--option=ncalrpc dir={run / 'ncalrpc'}",
        f"--option=winbindd socket directory={run / 'winbindd'}",
        f"--option=ntp signd socket directory={run / 'ntp_signd'}",
        f"--option=log file={directory / 'log.%m'}",
    ]
    log = (directory / "samba.out").open("w", encoding="utf-8")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, cwd=directory)
    log.close()
    (directory / "dc.pid").write_text(f"{process.pid}\n{address}\n{domain}\n", encoding="utf-8")
    (directory / "address").write_text(address + "\n", encoding="utf-8")
    dc = DomainController(directory, address, process.pid, domain)
    _wait_ready(dc, process, timeout)
    return dc


def free_loopback_address(ports: tuple[int, ...] = (389, 636), tries: int = 200) -> str:
    """A loopback address whose LDAP ports nobody uses, picked at random in 127.0.0.0/8.

    Two checkouts on one machine (or two test runs) then never collide on a fixed address.
    """
    for _ in range(tries):
        address = f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(256)}." \
                  f"{secrets.randbelow(253) + 2}"
        if all(_port_free(address, port) for port in ports):
            return address
    raise BackendError("no free loopback address found for the lab DC; pass --address")


def lab_address(directory: Path, wanted: str) -> str:
    """The address for a lab DC: `wanted`, or for "auto" the lab's last one while it is free,
    else a free one."""
    if wanted != "auto":
        return wanted
    running = dc_status(directory)
    if running is not None:
        return running.address
    try:
        last = (directory / "address").read_text(encoding="utf-8").strip()
    except OSError:
        last = ""
    if last and all(_port_free(last, port) for port in (389, 636)):
        return last
    return free_loopback_address()


def _port_free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return not _port_open(address, port)


def _port_open(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


def _wait_ready(dc: DomainController, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BackendError(f"the lab DC stopped at start (exit {process.returncode}): "
                               f"{tail(dc.directory / 'samba.out')}")
        if dc.ca_file.exists() and _port_open(dc.address, 636):
            return
        time.sleep(0.2)
    stop_dc(dc)
    raise BackendError(f"the lab DC did not answer on {dc.url} within {timeout:.0f} s: "
                       f"{tail(dc.directory / 'samba.out')}")


def dc_status(directory: Path) -> DomainController | None:
    """The DC running from `directory`, or None."""
    try:
        pid_text, address, domain = (directory / "dc.pid").read_text().split()[:3]
        pid = int(pid_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"samba" not in cmdline.read_bytes():
        return None  # the pid was reused by another program
    return DomainController(directory, address, pid, domain)


def stop_dc(dc: DomainController, timeout: float = 10.0) -> None:
    """Stop the DC (SIGTERM, then SIGKILL); its whole process group goes."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dc.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(dc.pid):
                (dc.directory / "dc.pid").unlink(missing_ok=True)
                return
            time.sleep(0.1)
    raise BackendError(f"the lab DC (pid {dc.pid}) did not stop")


def make_service_account(conn: ldap3.Connection, base_dn: str, partner: str,
                         folder: Path) -> tuple[str, Path]:
    """The lab's bind account of a partner, svc-ssc-CODE in CN=Users (made when missing, its
    password then new), and the 0600 file with its password."""
    account = f"svc-ssc-{partner}"[:20]
    password_file = folder / f"{account}.pass"
    dn = f"CN={account},CN=Users,{base_dn}"
    conn.search(dn, "(objectClass=user)", ldap3.BASE)
    exists = bool([e for e in conn.response or [] if e.get("type") == "searchResEntry"])
    if exists and password_file.exists():
        return account, password_file
    password = _password()
    quoted = f'"{password}"'.encode("utf-16-le")
    if exists:
        ok = conn.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [quoted])]})
    else:
        ok = conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": account, "userAccountControl": 512, "unicodePwd": quoted,
            "description": f"ssc-infra lab: the bind account of partner {partner}"})
    if not ok:
        raise SscError(f"the lab DC refused the account {account}: {conn.result}")
    write_secret(password_file, password)
    return account, password_file
