"""The lab NetBox: a real NetBox 4.7 (PostgreSQL 15, Redis, gunicorn) on loopback ports.

NetBox lives in a venv of its own in the cache (`netbox_install`: it needs Python 3.12, the
project runs on 3.11); PostgreSQL and Redis run from the server's directory
(`netbox_services`). Migrating an empty database takes minutes of CPU, so it is done once per
NetBox version and kept as a gzipped SQL dump beside the venv; a server restores it (~1 s)
into a template database, adds its admin user and API token there, and clones the template
into `netbox` (`createdb -T`). Resetting between tests is the clone again plus a FLUSHALL of
Redis, while gunicorn keeps running.

Every service listens on a port the kernel picked as free on a loopback address, so two
checkouts or test runs never collide. The state file in the server's directory (pids, ports)
lets `netbox_status` and `stop_netbox` work from another process (`lab down`).
"""

from __future__ import annotations

import gzip
import secrets
import shutil
import string
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.netbox_install import (
    NETBOX_VERSION,
    ensure_netbox_installed,
    locked,
    version_dir,
)
from ssc_infra_lab.netbox_services import (
    DATABASE,
    TEMPLATE,
    Services,
    free_port,
    netbox_command,
    netbox_env,
    pg_tool,
    psql,
    read_state,
    redis_command,
    runs_program,
    services_password,
    start_services,
    stop_recorded,
    write_state,
)
from ssc_infra_lab.process import alive, is_loopback, tail, write_secret

ADMIN = "admin"
TOKEN_FILE, PASSWORD_FILE = "api.token", "admin.pass"  # in the server's directory, 0600


# -- the migrated database, once per NetBox version ----------------------------------------


def migrated_dump() -> Path:
    """The gzipped SQL dump of a freshly migrated NetBox database, built now when missing.

    Built in a throwaway cluster (`netbox migrate`, then `pg_dump`), written as a partial
    file and renamed, under a file lock: a killed build leaves no half dump, and a second
    test run waits for the first one's dump instead of migrating too.
    """
    folder = version_dir()
    dump = folder / "migrated.sql.gz"
    with locked(folder / "dump.lock"):
        if dump.exists():
            return dump
        venv = ensure_netbox_installed()
        for stale in folder.glob("build-*"):  # left by a killed build: its servers too
            stop_recorded(stale)
            shutil.rmtree(stale, ignore_errors=True)
        build = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
        try:
            services = start_services(build, "127.0.0.1", fresh=True)
            psql(services, "postgres", f"CREATE DATABASE {DATABASE}")
            netbox_command(venv, build, ["migrate", "--no-input"], "migrating NetBox's database",
                           timeout=3600)
            sql = pg_tool(services, "pg_dump", ["--no-owner", "--no-privileges", DATABASE],
                          "dumping the migrated database")
            partial = dump.with_name(dump.name + ".partial")
            partial.write_bytes(gzip.compress(sql))
            partial.replace(dump)
        finally:
            stop_recorded(build)
            shutil.rmtree(build, ignore_errors=True)
    return dump


# -- a server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetBoxServer:
    """A running lab NetBox. Its API token and admin password are in files (0600), never here.

    `pid` is gunicorn's master; PostgreSQL and Redis run beside it from the same directory.
    """

    directory: Path
    address: str
    port: int
    pid: int
    postgres_port: int
    postgres_pid: int
    redis_port: int
    redis_pid: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def token_file(self) -> Path:
        """`nbt_<key>.<token>`: send it as `Authorization: Bearer ...` (pynetbox does)."""
        return self.directory / TOKEN_FILE

    @property
    def admin_password_file(self) -> Path:
        """The web UI's password of the superuser `admin`."""
        return self.directory / PASSWORD_FILE

    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()


# Reads the password and the token from their files: on a command line `ps` would show them.
_ADMIN_SCRIPT = """
import os
from pathlib import Path
from users.models import Token, User

password = Path(os.environ['SSC_ADMIN_PASSWORD_FILE']).read_text().strip()
key, _, token = Path(os.environ['SSC_TOKEN_FILE']).read_text().strip()[4:].partition('.')
user, _ = User.objects.get_or_create(username=os.environ['SSC_ADMIN'])
user.is_superuser = True
user.is_active = True
user.set_password(password)
user.save()
Token.objects.filter(user=user).delete()
Token(user=user, version=2, key=key, token=token, description='ssc-infra lab').save()
"""


def start_netbox(directory: Path, address: str | None = None,
                 timeout: float = 120.0) -> NetBoxServer:
    """Start a NetBox in `directory` (0700) and wait until its API answers.

    A new directory gets a PostgreSQL cluster, the migrated dump restored as the template
    database with the superuser `admin` and an API token added, and `netbox` cloned from it;
    a directory whose NetBox was stopped keeps its data. Every service listens on `address`
    (127.0.0.1 unless given; loopback only) on a port the kernel picked as free, and runs
    in a session of its own, so it outlives the command that started it (`lab up`).

    Args:
        directory: the server's folder: data, configuration, logs, state, secrets.
        address: a loopback address to listen on.
        timeout: seconds to wait for gunicorn's first answer.

    Returns:
        The running server; the one already running from `directory` when there is one.

    Raises:
        BackendError: something is missing (says what to install) or did not start (with
            the tail of its log).
    """
    address = address or "127.0.0.1"
    if not is_loopback(address):
        raise BackendError(f"the lab NetBox listens on loopback only, not on {address!r}: "
                           "pass an address in 127.0.0.0/8")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    with locked(directory / ".start.lock"):
        running = netbox_status(directory)
        if running is not None:
            return running
        stop_recorded(directory)  # what a crashed or half-made start left running
        venv = ensure_netbox_installed()
        dump = migrated_dump()
        try:
            # A directory not made to the end (or for another version) starts from scratch.
            fresh = _prepared(directory) != NETBOX_VERSION
            services = start_services(directory, address, fresh)
            server = _spawn_gunicorn(venv, services)  # boots (seconds) while the data is made
            if fresh:
                _prepare(venv, services, dump)
            return _wait_ready(venv, services, server, timeout)
        except BaseException:
            stop_recorded(directory)
            raise


def _prepared(directory: Path) -> str:
    """The NetBox version the directory's databases were made for, "" when not made."""
    try:
        return (directory / "prepared").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _prepare(venv: Path, services: Services, dump: Path) -> None:
    """The template database (the dump, `admin`, the token) and `netbox` cloned from it."""
    directory = services.directory
    psql(services, "postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
         f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {TEMPLATE}")
    psql(services, TEMPLATE, input_bytes=gzip.decompress(dump.read_bytes()))
    token_file, password_file = directory / TOKEN_FILE, directory / PASSWORD_FILE
    if not password_file.exists():
        write_secret(password_file, secrets.token_urlsafe(18))
    if not token_file.exists():
        key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
        write_secret(token_file, f"nbt_{key}.{secrets.token_hex(20)}")
    netbox_command(venv, directory, ["shell", "--no-startup", "-c", _ADMIN_SCRIPT],
                   "making NetBox's admin user and API token", database=TEMPLATE, extra_env={
                       "SSC_ADMIN": ADMIN, "SSC_TOKEN_FILE": str(token_file),
                       "SSC_ADMIN_PASSWORD_FILE": str(password_file)})
    psql(services, "postgres", f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}")
    (directory / "prepared").write_text(NETBOX_VERSION + "\n", encoding="utf-8")


def _spawn_gunicorn(venv: Path, services: Services) -> NetBoxServer:
    """Start gunicorn on a free port (recorded in the state file); it boots on its own."""
    directory = services.directory
    port = free_port(services.address)
    with (directory / "gunicorn.log").open("ab") as output:
        process = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "--bind", f"{services.address}:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "600", "--graceful-timeout", "5",
             "--no-control-socket", "--pythonpath", str(directory / "wsgi"),
             "lab_wsgi:application"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            env=netbox_env(directory), cwd=directory, start_new_session=True)
    write_state(directory, port=port, pid=process.pid)
    return NetBoxServer(directory, services.address, port, process.pid, services.postgres_port,
                        services.postgres_pid, services.redis_port, services.redis_pid)


def _wait_ready(venv: Path, services: Services, server: NetBoxServer,
                timeout: float) -> NetBoxServer:
    """Wait for 200 on /api/status/; a port taken in the meantime gets another (twice)."""
    log = services.directory / "gunicorn.log"
    deadline = time.monotonic() + timeout
    retries = 2
    while time.monotonic() < deadline:
        if _api_status(server) == 200:
            return server
        if not alive(server.pid):
            if retries == 0 or "in use" not in tail(log):
                raise BackendError(f"NetBox's gunicorn stopped at start (logs in "
                                   f"{services.directory}): {tail(log)}")
            retries -= 1
            server = _spawn_gunicorn(venv, services)
        time.sleep(0.25)
    raise BackendError(f"NetBox did not answer 200 on {server.url}/api/status/ within "
                       f"{timeout:.0f} s (logs in {services.directory}): {tail(log)}")


def _api_status(server: NetBoxServer) -> int:
    request = urllib.request.Request(f"{server.url}/api/status/", headers={
        "Authorization": f"Bearer {server.token()}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (OSError, ValueError):
        return 0


def netbox_status(directory: Path) -> NetBoxServer | None:
    """The NetBox running from `directory` (gunicorn, PostgreSQL and Redis alive), or None."""
    state = read_state(directory)
    try:
        server = NetBoxServer(directory, str(state["address"]), int(str(state["port"])),
                              int(str(state["pid"])), int(str(state["postgres_port"])),
                              int(str(state["postgres_pid"])), int(str(state["redis_port"])),
                              int(str(state["redis_pid"])))
    except (KeyError, ValueError):
        return None
    programs = ((server.pid, b"gunicorn"), (server.postgres_pid, b"postgres"),
                (server.redis_pid, b"redis-server"))
    return server if all(runs_program(pid, name) for pid, name in programs) else None


def reset_netbox(server: NetBoxServer) -> None:
    """Empty the NetBox again while gunicorn runs: `netbox` cloned anew from the template
    (which holds `admin` and the token), Redis flushed: ~0.4 s on an idle machine.

    Raises:
        BackendError: PostgreSQL or Redis refused.
    """
    services = Services(server.directory, server.address, server.postgres_port,
                        server.postgres_pid, server.redis_port, server.redis_pid,
                        services_password(server.directory))
    # WITH (FORCE) ends gunicorn's connections first; they reconnect at the next request
    # (CONN_HEALTH_CHECKS), to the new database.
    psql(services, "postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
         f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}")
    redis_command(server.address, server.redis_port, services.password, "FLUSHALL")


def stop_netbox(server: NetBoxServer) -> None:
    """Stop gunicorn, Redis and PostgreSQL (`pg_ctl stop -m fast`); the data stays.

    Raises:
        BackendError: a process did not stop.
    """
    stop_recorded(server.directory, {"pid": server.pid, "redis_pid": server.redis_pid,
                                     "postgres_pid": server.postgres_pid})
