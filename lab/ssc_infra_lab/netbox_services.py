"""The services of one lab NetBox directory: PostgreSQL 15 and Redis, NetBox's configuration
for them, its management commands, and stopping what a directory's state file records.

Every service listens on a port the kernel picked as free on a loopback address, so two
checkouts or test runs never collide; PostgreSQL and Redis ask for a password anyway, since
any local user can reach a loopback port. The state file in the directory (pids, ports) lets
another process find and stop them (`lab down`).

PostgreSQL refuses to run as root. As root its programs run as the `postgres` user with one
capability, CAP_DAC_READ_SEARCH, so the server can reach a data directory below private
folders (pytest's /tmp/pytest-of-root is 0700): the data folder itself is postgres's, 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.netbox_install import PG_BIN, run, version_secret
from ssc_infra_lab.process import alive, tail, write_secret

DATABASE, TEMPLATE, DB_USER = "netbox", "netbox_template", "netbox"
STATE = "netbox.json"


@dataclass(frozen=True)
class Services:
    """PostgreSQL and Redis of one NetBox directory, as its state file records them."""

    directory: Path
    address: str
    postgres_port: int
    postgres_pid: int
    redis_port: int
    redis_pid: int
    password: str  # of the database superuser `netbox` and of Redis (secrets.json, 0600)


def read_state(directory: Path) -> dict[str, object]:
    """The state file of `directory` (pids, ports, address); {} when missing or unreadable."""
    try:
        data = json.loads((directory / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(directory: Path, **values: object) -> None:
    """Add `values` to the state file; written whole and renamed, never half."""
    state = {**read_state(directory), **values}
    partial = directory / f".{STATE}.partial"
    partial.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    partial.replace(directory / STATE)


def free_port(address: str) -> int:
    """A port the kernel reports free on `address` now (ephemeral range, never a fixed one)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _as_postgres(command: Sequence[str | Path]) -> list[str]:
    """The command as the postgres user when we are root (PostgreSQL refuses root).

    CAP_DAC_READ_SEARCH lets the server reach its data folder below folders only root may
    enter (a test's tmp_path, ~/.cache): it may read and pass through them, not write.
    """
    parts = [str(part) for part in command]
    if os.geteuid() != 0:
        return parts
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--", *parts]


def _owned_by_postgres(path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def services_password(directory: Path) -> str:
    """The password of this directory's PostgreSQL superuser and Redis, made once (0600)."""
    path = directory / "secrets.json"
    if not path.exists():
        write_secret(path, json.dumps({"services": secrets.token_hex(24)}))
    return str(json.loads(path.read_text(encoding="utf-8"))["services"])


def _init_postgres(directory: Path, password: str) -> None:
    pg = directory / "postgres"
    shutil.rmtree(pg, ignore_errors=True)
    _owned_by_postgres(pg)
    pwfile = directory / "initdb.pass"  # root's 0600 file: postgres reads it by the capability
    write_secret(pwfile, password)
    try:
        run(_as_postgres([PG_BIN / "initdb", "-D", pg / "data", "-U", DB_USER,
                          f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                          "--no-locale", "--no-sync"]), f"initdb in {pg}", timeout=300)
    finally:
        pwfile.unlink(missing_ok=True)


def _start_postgres(directory: Path, address: str) -> tuple[int, int]:
    """Start the directory's cluster on a free port; returns (port, postmaster pid)."""
    pg = directory / "postgres"
    # A socket path longer than sun_path (108 bytes) stops the server from starting; the
    # clients use TCP anyway, so a deep directory simply goes without the socket.
    socket_dir = str(pg) if len(str(pg)) < 80 else ""
    last = ""
    for _ in range(3):
        port = free_port(address)
        # pg_ctl hands -o to a shell: every word quoted.
        options = " ".join(shlex.quote(part) for part in [
            "-p", str(port), "-k", socket_dir, "-c", f"listen_addresses={address}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=50"])
        try:
            run(_as_postgres([PG_BIN / "pg_ctl", "-D", pg / "data", "-l", pg / "server.log",
                              "-w", "-t", "60", "-o", options, "start"]),
                "starting PostgreSQL", timeout=90, new_session=True)
        except BackendError as e:
            last = f"{e} | {tail(pg / 'server.log')}"
            if "in use" in last:
                continue
            break
        pid = int((pg / "data" / "postmaster.pid").read_text(encoding="utf-8").split()[0])
        return port, pid
    raise BackendError(f"PostgreSQL did not start in {pg}: {last}")


def _start_redis(directory: Path, address: str, password: str) -> tuple[int, int]:
    """Start a private redis-server (no persistence) on a free port: (port, pid)."""
    folder = directory / "redis"
    folder.mkdir(mode=0o700, exist_ok=True)
    log = folder / "redis.log"
    for _ in range(3):
        port = free_port(address)
        conf = folder / "redis.conf"
        # In a file (0600), not on the command line, where `ps` would show the password.
        write_secret(conf, "\n".join([
            f"bind {address}", f"port {port}", "protected-mode yes", 'save ""',
            "appendonly no", "daemonize no", f'dir "{folder}"', f'logfile "{log}"',
            f"requirepass {password}"]))
        process = subprocess.Popen(["redis-server", str(conf)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True, cwd=folder)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError, BackendError):
                if redis_command(address, port, password, "PING") == "PONG":
                    return port, process.pid
            time.sleep(0.05)
        _kill_group(process.pid)
        if "in use" not in tail(log):
            break
    raise BackendError(f"redis-server did not start in {folder}: {tail(log)}")


def redis_command(address: str, port: int, password: str, command: str) -> str:
    """Send one command after AUTH in Redis's protocol; returns its one-line answer."""
    def request(*words: str) -> bytes:
        encoded = [word.encode() for word in words]
        return f"*{len(encoded)}\r\n".encode() + b"".join(
            b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded)

    with socket.create_connection((address, port), timeout=5) as conn:
        conn.sendall(request("AUTH", password) + request(command))
        answer = b""
        while answer.count(b"\r\n") < 2:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    lines = answer.decode("utf-8", errors="replace").split("\r\n")
    if len(lines) < 2 or not lines[0].startswith("+") or not lines[1].startswith("+"):
        raise BackendError(f"Redis on {address}:{port} answered {command} with "
                           f"{' '.join(lines)[:200]!r}")
    return lines[1][1:]


def start_services(directory: Path, address: str, fresh: bool) -> Services:
    """Start PostgreSQL (a new cluster when `fresh`) and Redis for `directory`, recorded in
    its state file as they start, and write NetBox's configuration for them."""
    password = services_password(directory)
    if fresh or not (directory / "postgres" / "data" / "PG_VERSION").exists():
        _init_postgres(directory, password)
    postgres_port, postgres_pid = _start_postgres(directory, address)
    write_state(directory, address=address, postgres_port=postgres_port,
                postgres_pid=postgres_pid)
    redis_port, redis_pid = _start_redis(directory, address, password)
    write_state(directory, redis_port=redis_port, redis_pid=redis_pid)
    services = Services(directory, address, postgres_port, postgres_pid, redis_port,
                        redis_pid, password)
    _write_configuration(services)
    return services


def _write_configuration(services: Services) -> None:
    """conf/configuration.py (0600: it holds the secrets), read with NETBOX_ROOT=directory.

    Every value goes in through repr(), so it is always one Python literal. The database's
    name comes from the environment, so that `netbox shell` can work on the template.
    """
    conf = services.directory / "conf"
    conf.mkdir(mode=0o700, exist_ok=True)

    def redis(database: int) -> dict[str, object]:
        return {"HOST": services.address, "PORT": services.redis_port, "USERNAME": "",
                "PASSWORD": services.password, "DATABASE": database, "SSL": False}

    database = {"ENGINE": "django.db.backends.postgresql", "USER": DB_USER,
                "PASSWORD": services.password, "HOST": services.address,
                "PORT": services.postgres_port, "CONN_MAX_AGE": 300,
                "CONN_HEALTH_CHECKS": True}  # reconnects after a reset dropped the database
    write_secret(conf / "configuration.py", "\n".join([
        "# Written by ssc-infra (ssc_infra_lab.netbox_services) at each start: the ports change.",
        "import os",
        "",
        "ALLOWED_HOSTS = ['*']",
        f"DATABASES = {{'default': {{**{database!r}, "
        f"'NAME': os.environ.get('SSC_NETBOX_DATABASE', {DATABASE!r})}}}}",
        f"REDIS = {{'tasks': {redis(0)!r}, 'caching': {redis(1)!r}}}",
        f"SECRET_KEY = {version_secret('secret_key')!r}",
        f"API_TOKEN_PEPPERS = {{1: {version_secret('pepper')!r}}}",
        "RELEASE_CHECK_URL = None",
        "ISOLATED_DEPLOYMENT = True",
        "CENSUS_REPORTING_ENABLED = False",
        # LOGIN_REQUIRED is True by default in 4.7 and setting it warns (deprecated): unset.
    ]))
    # The web UI's CSS and scripts straight from the package, by Django's own handler (as
    # runserver does): gunicorn serves no static files, and the lab has no web server.
    wsgi = services.directory / "wsgi"
    wsgi.mkdir(mode=0o700, exist_ok=True)
    (wsgi / "lab_wsgi.py").write_text(
        "from django.contrib.staticfiles.handlers import StaticFilesHandler\n"
        "from netbox.wsgi import application as netbox\n\n"
        "application = StaticFilesHandler(netbox)\n", encoding="utf-8")


def _client_env(services: Services) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGHOST": services.address,
            "PGPORT": str(services.postgres_port), "PGUSER": DB_USER,
            "PGPASSWORD": services.password, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C.UTF-8"}


def pg_tool(services: Services, tool: str, args: Sequence[str], what: str, *,
            input_bytes: bytes | None = None) -> bytes:
    """Run a PostgreSQL client against the directory's cluster over TCP; its stdout."""
    try:
        done = subprocess.run([str(PG_BIN / tool), *args], env=_client_env(services),
                              input=input_bytes, capture_output=True, timeout=600,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackendError(f"{what} failed: {e}") from e
    if done.returncode != 0:
        raise BackendError(f"{what} failed (exit {done.returncode}): "
                           f"{done.stderr.decode('utf-8', errors='replace').strip()[-800:]}")
    return done.stdout


def psql(services: Services, database: str, *statements: str,
         input_bytes: bytes | None = None) -> None:
    """Run `statements` (else `input_bytes`, a script) with psql on `database`, stopping at
    the first error."""
    args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database]
    for statement in statements:
        args += ["-c", statement]
    pg_tool(services, "psql", args,
            f"psql on {database} ({'; '.join(statements)[:160] or 'input'})",
            input_bytes=input_bytes)


def netbox_env(directory: Path, database: str = DATABASE) -> dict[str, str]:
    """The environment NetBox runs in for `directory`, working on `database`."""
    env = {**os.environ, "NETBOX_ROOT": str(directory), "SSC_NETBOX_DATABASE": database,
           "PYTHONDONTWRITEBYTECODE": "1"}
    for inherited in ("DJANGO_SETTINGS_MODULE", "NETBOX_CONFIGURATION"):
        env.pop(inherited, None)  # NetBox's own defaults, with the configuration file above
    return env


def netbox_command(venv: Path, directory: Path, args: Sequence[str], what: str, *,
                   database: str = DATABASE, extra_env: Mapping[str, str] | None = None,
                   timeout: float = 600.0) -> str:
    """Run a NetBox management command (the `netbox` console script) for `directory`."""
    return run([venv / "bin" / "netbox", *args], what, timeout=timeout, cwd=directory,
               env={**netbox_env(directory, database), **(extra_env or {})})



def stop_recorded(directory: Path, known: Mapping[str, object] | None = None) -> None:
    """Stop whatever the state file of `directory` (or else `known`) records as running,
    then forget it."""
    state = {**(known or {}), **read_state(directory)}
    for key, name in (("pid", b"gunicorn"), ("redis_pid", b"redis-server")):
        pid = state.get(key)
        if isinstance(pid, int) and runs_program(pid, name):
            _kill_group(pid)
    data = directory / "postgres" / "data"
    if (data / "postmaster.pid").exists():
        try:
            run(_as_postgres([PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30",
                              "stop"]), "stopping PostgreSQL", timeout=60)
        except BackendError:
            pid = state.get("postgres_pid")
            if isinstance(pid, int) and runs_program(pid, b"postgres"):
                _kill_group(pid, signal.SIGQUIT)  # immediate shutdown, children included
    (directory / STATE).unlink(missing_ok=True)


def _kill_group(pid: int, first: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> None:
    """End a process and its group (when it leads one): `first`, then SIGKILL."""
    for sig in (first, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:  # no group of its own (the postmaster): the process
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)
    raise BackendError(f"process {pid} did not stop")


def runs_program(pid: int, name: bytes) -> bool:
    """Is `pid` alive and still the program `name` (not a reused pid)?"""
    if not alive(pid):
        return False
    try:
        return name in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
