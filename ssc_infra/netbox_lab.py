"""The lab NetBox: a real NetBox 4.7 (PostgreSQL 15, Redis, gunicorn) on loopback ports.

NetBox needs Python >= 3.12 and the project runs on 3.11, so NetBox lives in a venv of its
own in the cache (`cache_dir()/netbox-<version>/venv`), installed hash-checked from
requirements/netbox-lock.txt. Migrating an empty database takes minutes of CPU, so it is done
once per NetBox version and kept as a gzipped SQL dump beside the venv; a server restores it
(~1 s) into a template database, adds its admin user and API token there, and clones the
template into `netbox` (`createdb -T`). Resetting between tests is the clone again plus a
FLUSHALL of Redis, while gunicorn keeps running.

Every service listens on a port the kernel picked as free on a loopback address, so two
checkouts or test runs never collide; PostgreSQL and Redis ask for a password anyway, since
any local user can reach a loopback port. The state file in the server's directory (pids,
ports) lets `netbox_status` and `stop_netbox` work from another process (`lab down`).

PostgreSQL refuses to run as root. As root its programs run as the `postgres` user with one
capability, CAP_DAC_READ_SEARCH, so the server can reach a data directory below private
folders (pytest's /tmp/pytest-of-root is 0700): the data folder itself is postgres's, 0700.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import ipaddress
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ssc_infra.core.errors import BackendError
from ssc_infra.lab import cache_dir

NETBOX_VERSION = "4.7.3"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_TOOLS = ("initdb", "pg_ctl", "postgres", "pg_dump", "psql", "createdb")
SYSTEM_PACKAGES = ("apt-get install -y postgresql-15 redis-server "
                   "(or: scripts/install-system.sh all)")
LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements" / "netbox-lock.txt"
DATABASE, TEMPLATE, DB_USER = "netbox", "netbox_template", "netbox"
ADMIN = "admin"
STATE = "netbox.json"
TOKEN_FILE, PASSWORD_FILE = "api.token", "admin.pass"  # in the server's directory, 0600
_COMPLETE = ".ssc-complete"


def version_dir() -> Path:
    """The cache folder of this NetBox version: its venv, the migrated dump, the pepper."""
    path = cache_dir() / f"netbox-{NETBOX_VERSION}"
    path.mkdir(exist_ok=True, mode=0o700)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`: a second test run waits instead of building too."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: Sequence[str | Path], what: str, *, env: Mapping[str, str] | None = None,
         input_bytes: bytes | None = None, timeout: float = 600.0,
         cwd: Path | None = None, new_session: bool = False) -> str:
    """Run a command to its end; BackendError with the tail of its output when it fails."""
    try:
        done = subprocess.run([str(part) for part in command], env=env, input=input_bytes,
                              capture_output=True, timeout=timeout, check=False, cwd=cwd,
                              start_new_session=new_session)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackendError(f"{what} failed: {e}") from e
    if done.returncode != 0:
        output = (done.stderr or done.stdout).decode("utf-8", errors="replace").strip()
        raise BackendError(f"{what} failed (exit {done.returncode}): {output[-800:]}")
    return done.stdout.decode("utf-8", errors="replace")


# -- what NetBox needs on the machine ------------------------------------------------------


def find_python312() -> str:
    """A Python 3.12 for NetBox's venv: $SSC_PYTHON312, python3.12 on PATH, or pyenv's."""
    candidates = [os.environ.get("SSC_PYTHON312", ""), shutil.which("python3.12") or ""]
    candidates += [str(p) for p in sorted(Path("/root/.pyenv/versions").glob("3.12*/bin/"
                                                                              "python3.12"))]
    for candidate in filter(None, candidates):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2]"
                                   " == (3, 12), sys.executable)"], capture_output=True,
                                  text=True, timeout=30, check=False)
            ok, _, executable = done.stdout.strip().partition(" ")
            if done.returncode == 0 and ok == "True":
                return executable
    raise BackendError(f"NetBox {NETBOX_VERSION} needs Python 3.12, and none was found "
                       "(tried $SSC_PYTHON312, python3.12 on PATH, /root/.pyenv/versions/3.12*):"
                       " install one (pyenv install 3.12, or Debian's python3.12) and set "
                       "SSC_PYTHON312=/path/to/python3.12")


def check_system() -> None:
    """PostgreSQL 15's server programs and redis-server are there, else say what to install."""
    missing = [tool for tool in PG_TOOLS if not (PG_BIN / tool).exists()]
    if missing:
        raise BackendError(f"PostgreSQL 15 is missing ({', '.join(missing)} not in {PG_BIN}); "
                           f"as root run: {SYSTEM_PACKAGES}")
    if shutil.which("redis-server") is None:
        raise BackendError(f"redis-server is not installed; as root run: {SYSTEM_PACKAGES}")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise BackendError("setpriv (util-linux) is needed to run PostgreSQL as the postgres "
                           "user: apt-get install -y util-linux")


def ensure_netbox_installed() -> Path:
    """NetBox's venv in the cache, made now when missing or half made; returns the venv.

    The venv is made by Python 3.12 and installed from requirements/netbox-lock.txt with
    --require-hashes (`netbox==<version>` unchecked only when the lock is not there, as in a
    wheel install). A marker written last, naming the lock's digest, tells a finished venv
    from one a killed install left behind; a changed lock rebuilds it.
    """
    check_system()
    folder = version_dir()
    venv = folder / "venv"
    lock = LOCK_FILE.read_bytes() if LOCK_FILE.exists() else b""
    wanted = hashlib.sha256(lock or f"netbox=={NETBOX_VERSION}".encode()).hexdigest()
    marker = venv / _COMPLETE
    with _locked(folder / "venv.lock"):
        if marker.exists() and marker.read_text(encoding="utf-8").strip() == wanted:
            return venv
        python = find_python312()
        shutil.rmtree(venv, ignore_errors=True)
        _run([python, "-m", "venv", venv], "making NetBox's venv")
        pip: list[str | Path] = [venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                                 "--disable-pip-version-check"]
        if lock:
            _run([*pip, "--require-hashes", "-r", LOCK_FILE],
                 f"installing NetBox {NETBOX_VERSION} from {LOCK_FILE}", timeout=1800)
        else:
            _run([*pip, f"netbox=={NETBOX_VERSION}"], f"installing NetBox {NETBOX_VERSION}",
                 timeout=1800)
        marker.write_text(wanted + "\n", encoding="utf-8")
    return venv


# -- the migrated database, once per NetBox version ----------------------------------------


def _version_secret(name: str) -> str:
    """A random value kept 0600 beside the dump (SECRET_KEY, the token pepper), made once."""
    folder = version_dir()
    path = folder / name
    with _locked(folder / "secrets.lock"):
        if not path.exists():
            _write_secret(path, secrets.token_urlsafe(48))  # 64 characters; NetBox wants 50+
    return path.read_text(encoding="utf-8").strip()


def migrated_dump() -> Path:
    """The gzipped SQL dump of a freshly migrated NetBox database, built now when missing.

    Built in a throwaway cluster (`netbox migrate`, then `pg_dump`), written as a partial
    file and renamed, under a file lock: a killed build leaves no half dump, and a second
    test run waits for the first one's dump instead of migrating too.
    """
    folder = version_dir()
    dump = folder / "migrated.sql.gz"
    with _locked(folder / "dump.lock"):
        if dump.exists():
            return dump
        venv = ensure_netbox_installed()
        for stale in folder.glob("build-*"):  # left by a killed build: its servers too
            _stop_recorded(stale)
            shutil.rmtree(stale, ignore_errors=True)
        build = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
        try:
            services = _start_services(build, "127.0.0.1", fresh=True)
            _psql(services, "postgres", f"CREATE DATABASE {DATABASE}")
            _netbox(venv, build, ["migrate", "--no-input"], "migrating NetBox's database",
                    timeout=3600)
            sql = _pg(services, "pg_dump", ["--no-owner", "--no-privileges", DATABASE],
                      "dumping the migrated database")
            partial = dump.with_name(dump.name + ".partial")
            partial.write_bytes(gzip.compress(sql))
            partial.replace(dump)
        finally:
            _stop_recorded(build)
            shutil.rmtree(build, ignore_errors=True)
    return dump


# -- the services: PostgreSQL and Redis ----------------------------------------------------


@dataclass(frozen=True)
class _Services:
    """PostgreSQL and Redis of one NetBox directory, as its state file records them."""

    directory: Path
    address: str
    postgres_port: int
    postgres_pid: int
    redis_port: int
    redis_pid: int
    password: str  # of the database superuser `netbox` and of Redis (secrets.json, 0600)


def _write_secret(path: Path, value: str) -> None:
    """Write `value` to a file only its owner may read (0600, even when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)


def _read_state(directory: Path) -> dict[str, object]:
    try:
        data = json.loads((directory / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(directory: Path, **values: object) -> None:
    """Add `values` to the state file; written whole and renamed, never half."""
    state = {**_read_state(directory), **values}
    partial = directory / f".{STATE}.partial"
    partial.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    partial.replace(directory / STATE)


def _free_port(address: str) -> int:
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


def _secrets(directory: Path) -> str:
    """The password of this directory's PostgreSQL superuser and Redis, made once (0600)."""
    path = directory / "secrets.json"
    if not path.exists():
        _write_secret(path, json.dumps({"services": secrets.token_hex(24)}))
    return str(json.loads(path.read_text(encoding="utf-8"))["services"])


def _init_postgres(directory: Path, password: str) -> None:
    pg = directory / "postgres"
    shutil.rmtree(pg, ignore_errors=True)
    _owned_by_postgres(pg)
    pwfile = directory / "initdb.pass"  # root's 0600 file: postgres reads it by the capability
    _write_secret(pwfile, password)
    try:
        _run(_as_postgres([PG_BIN / "initdb", "-D", pg / "data", "-U", DB_USER,
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
        port = _free_port(address)
        # pg_ctl hands -o to a shell: every word quoted.
        options = " ".join(shlex.quote(part) for part in [
            "-p", str(port), "-k", socket_dir, "-c", f"listen_addresses={address}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=50"])
        try:
            _run(_as_postgres([PG_BIN / "pg_ctl", "-D", pg / "data", "-l", pg / "server.log",
                               "-w", "-t", "60", "-o", options, "start"]),
                 "starting PostgreSQL", timeout=90, new_session=True)
        except BackendError as e:
            last = f"{e} | {_tail(pg / 'server.log')}"
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
        port = _free_port(address)
        conf = folder / "redis.conf"
        # In a file (0600), not on the command line, where `ps` would show the password.
        _write_secret(conf, "\n".join([
            f"bind {address}", f"port {port}", "protected-mode yes", 'save ""',
            "appendonly no", "daemonize no", f'dir "{folder}"', f'logfile "{log}"',
            f"requirepass {password}"]))
        process = subprocess.Popen(["redis-server", str(conf)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True, cwd=folder)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError, BackendError):
                if _redis(address, port, password, "PING") == "PONG":
                    return port, process.pid
            time.sleep(0.05)
        _kill_group(process.pid)
        if "in use" not in _tail(log):
            break
    raise BackendError(f"redis-server did not start in {folder}: {_tail(log)}")


def _redis(address: str, port: int, password: str, command: str) -> str:
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


def _start_services(directory: Path, address: str, fresh: bool) -> _Services:
    """Start PostgreSQL (a new cluster when `fresh`) and Redis for `directory`, recorded in
    its state file as they start, and write NetBox's configuration for them."""
    password = _secrets(directory)
    if fresh or not (directory / "postgres" / "data" / "PG_VERSION").exists():
        _init_postgres(directory, password)
    postgres_port, postgres_pid = _start_postgres(directory, address)
    _write_state(directory, address=address, postgres_port=postgres_port,
                 postgres_pid=postgres_pid)
    redis_port, redis_pid = _start_redis(directory, address, password)
    _write_state(directory, redis_port=redis_port, redis_pid=redis_pid)
    services = _Services(directory, address, postgres_port, postgres_pid, redis_port,
                         redis_pid, password)
    _write_configuration(services)
    return services


def _write_configuration(services: _Services) -> None:
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
    _write_secret(conf / "configuration.py", "\n".join([
        "# Written by ssc-infra (ssc_infra/netbox_lab.py) at each start: the ports change.",
        "import os",
        "",
        "ALLOWED_HOSTS = ['*']",
        f"DATABASES = {{'default': {{**{database!r}, "
        f"'NAME': os.environ.get('SSC_NETBOX_DATABASE', {DATABASE!r})}}}}",
        f"REDIS = {{'tasks': {redis(0)!r}, 'caching': {redis(1)!r}}}",
        f"SECRET_KEY = {_version_secret('secret_key')!r}",
        f"API_TOKEN_PEPPERS = {{1: {_version_secret('pepper')!r}}}",
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


def _client_env(services: _Services) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGHOST": services.address,
            "PGPORT": str(services.postgres_port), "PGUSER": DB_USER,
            "PGPASSWORD": services.password, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C.UTF-8"}


def _pg(services: _Services, tool: str, args: Sequence[str], what: str, *,
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


def _psql(services: _Services, database: str, *statements: str,
          input_bytes: bytes | None = None) -> None:
    args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database]
    for statement in statements:
        args += ["-c", statement]
    _pg(services, "psql", args, f"psql on {database} ({'; '.join(statements)[:160] or 'input'})",
        input_bytes=input_bytes)


def _netbox_env(directory: Path, database: str = DATABASE) -> dict[str, str]:
    env = {**os.environ, "NETBOX_ROOT": str(directory), "SSC_NETBOX_DATABASE": database,
           "PYTHONDONTWRITEBYTECODE": "1"}
    for inherited in ("DJANGO_SETTINGS_MODULE", "NETBOX_CONFIGURATION"):
        env.pop(inherited, None)  # NetBox's own defaults, with the configuration file above
    return env


def _netbox(venv: Path, directory: Path, args: Sequence[str], what: str, *,
            database: str = DATABASE, extra_env: Mapping[str, str] | None = None,
            timeout: float = 600.0) -> str:
    """Run a NetBox management command (the `netbox` console script) for `directory`."""
    return _run([venv / "bin" / "netbox", *args], what, timeout=timeout, cwd=directory,
                env={**_netbox_env(directory, database), **(extra_env or {})})


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
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BackendError(f"the lab NetBox listens on loopback only, not on {address!r}: "
                           "pass an address in 127.0.0.0/8")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    with _locked(directory / ".start.lock"):
        running = netbox_status(directory)
        if running is not None:
            return running
        _stop_recorded(directory)  # what a crashed or half-made start left running
        venv = ensure_netbox_installed()
        dump = migrated_dump()
        try:
            # A directory not made to the end (or for another version) starts from scratch.
            fresh = _prepared(directory) != NETBOX_VERSION
            services = _start_services(directory, address, fresh)
            server = _spawn_gunicorn(venv, services)  # boots (seconds) while the data is made
            if fresh:
                _prepare(venv, services, dump)
            return _wait_ready(venv, services, server, timeout)
        except BaseException:
            _stop_recorded(directory)
            raise


def _prepared(directory: Path) -> str:
    """The NetBox version the directory's databases were made for, "" when not made."""
    try:
        return (directory / "prepared").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _prepare(venv: Path, services: _Services, dump: Path) -> None:
    """The template database (the dump, `admin`, the token) and `netbox` cloned from it."""
    directory = services.directory
    _psql(services, "postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
          f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {TEMPLATE}")
    _psql(services, TEMPLATE, input_bytes=gzip.decompress(dump.read_bytes()))
    token_file, password_file = directory / TOKEN_FILE, directory / PASSWORD_FILE
    if not password_file.exists():
        _write_secret(password_file, secrets.token_urlsafe(18))
    if not token_file.exists():
        key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
        _write_secret(token_file, f"nbt_{key}.{secrets.token_hex(20)}")
    _netbox(venv, directory, ["shell", "--no-startup", "-c", _ADMIN_SCRIPT],
            "making NetBox's admin user and API token", database=TEMPLATE, extra_env={
                "SSC_ADMIN": ADMIN, "SSC_TOKEN_FILE": str(token_file),
                "SSC_ADMIN_PASSWORD_FILE": str(password_file)})
    _psql(services, "postgres", f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}")
    (directory / "prepared").write_text(NETBOX_VERSION + "\n", encoding="utf-8")


def _spawn_gunicorn(venv: Path, services: _Services) -> NetBoxServer:
    """Start gunicorn on a free port (recorded in the state file); it boots on its own."""
    directory = services.directory
    port = _free_port(services.address)
    with (directory / "gunicorn.log").open("ab") as output:
        process = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "--bind", f"{services.address}:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "600", "--graceful-timeout", "5",
             "--no-control-socket", "--pythonpath", str(directory / "wsgi"),
             "lab_wsgi:application"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            env=_netbox_env(directory), cwd=directory, start_new_session=True)
    _write_state(directory, port=port, pid=process.pid)
    return NetBoxServer(directory, services.address, port, process.pid, services.postgres_port,
                        services.postgres_pid, services.redis_port, services.redis_pid)


def _wait_ready(venv: Path, services: _Services, server: NetBoxServer,
                timeout: float) -> NetBoxServer:
    """Wait for 200 on /api/status/; a port taken in the meantime gets another (twice)."""
    log = services.directory / "gunicorn.log"
    deadline = time.monotonic() + timeout
    retries = 2
    while time.monotonic() < deadline:
        if _api_status(server) == 200:
            return server
        if not _alive(server.pid):
            if retries == 0 or "in use" not in _tail(log):
                raise BackendError(f"NetBox's gunicorn stopped at start (logs in "
                                   f"{services.directory}): {_tail(log)}")
            retries -= 1
            server = _spawn_gunicorn(venv, services)
        time.sleep(0.25)
    raise BackendError(f"NetBox did not answer 200 on {server.url}/api/status/ within "
                       f"{timeout:.0f} s (logs in {services.directory}): {_tail(log)}")


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
    state = _read_state(directory)
    try:
        server = NetBoxServer(directory, str(state["address"]), int(str(state["port"])),
                              int(str(state["pid"])), int(str(state["postgres_port"])),
                              int(str(state["postgres_pid"])), int(str(state["redis_port"])),
                              int(str(state["redis_pid"])))
    except (KeyError, ValueError):
        return None
    programs = ((server.pid, b"gunicorn"), (server.postgres_pid, b"postgres"),
                (server.redis_pid, b"redis-server"))
    return server if all(_runs(pid, name) for pid, name in programs) else None


def reset_netbox(server: NetBoxServer) -> None:
    """Empty the NetBox again while gunicorn runs: `netbox` cloned anew from the template
    (which holds `admin` and the token), Redis flushed: ~0.4 s on an idle machine.

    Raises:
        BackendError: PostgreSQL or Redis refused.
    """
    services = _Services(server.directory, server.address, server.postgres_port,
                         server.postgres_pid, server.redis_port, server.redis_pid,
                         _secrets(server.directory))
    # WITH (FORCE) ends gunicorn's connections first; they reconnect at the next request
    # (CONN_HEALTH_CHECKS), to the new database.
    _psql(services, "postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
          f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}")
    _redis(server.address, server.redis_port, services.password, "FLUSHALL")


def stop_netbox(server: NetBoxServer) -> None:
    """Stop gunicorn, Redis and PostgreSQL (`pg_ctl stop -m fast`); the data stays.

    Raises:
        BackendError: a process did not stop.
    """
    _stop_recorded(server.directory, {"pid": server.pid, "redis_pid": server.redis_pid,
                                      "postgres_pid": server.postgres_pid})


def _stop_recorded(directory: Path, known: Mapping[str, object] | None = None) -> None:
    """Stop whatever the state file of `directory` (or else `known`) records as running,
    then forget it."""
    state = {**(known or {}), **_read_state(directory)}
    for key, name in (("pid", b"gunicorn"), ("redis_pid", b"redis-server")):
        pid = state.get(key)
        if isinstance(pid, int) and _runs(pid, name):
            _kill_group(pid)
    data = directory / "postgres" / "data"
    if (data / "postmaster.pid").exists():
        try:
            _run(_as_postgres([PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30",
                               "stop"]), "stopping PostgreSQL", timeout=60)
        except BackendError:
            pid = state.get("postgres_pid")
            if isinstance(pid, int) and _runs(pid, b"postgres"):
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
            if not _alive(pid):
                return
            time.sleep(0.05)
    raise BackendError(f"process {pid} did not stop")


def _runs(pid: int, name: bytes) -> bool:
    """Is `pid` alive and still the program `name` (not a reused pid)?"""
    if not _alive(pid):
        return False
    try:
        return name in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child, else a zombie lingers
        if waited == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "(no log)"
    return " | ".join(text.splitlines()[-lines:])
