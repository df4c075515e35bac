"""The lab NetBox's installation, kept in the cache once per NetBox version.

NetBox needs Python >= 3.12 and the project runs on 3.11, so NetBox lives in a venv of its
own in the cache (`cache_dir()/netbox-<version>/venv`), installed hash-checked from
lab/requirements/netbox-lock.txt. Beside the venv the version's folder keeps the random values
every server of that version shares (SECRET_KEY, the API token pepper) and the migrated
database's dump (`ssc_infra_lab.netbox.migrated_dump`). Also here: what NetBox needs on the
machine (PostgreSQL 15, Redis, a Python 3.12), and the two helpers every part of the lab
NetBox uses: a file lock and running a command to its end.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.process import cache_dir, write_secret

NETBOX_VERSION = "4.7.3"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_TOOLS = ("initdb", "pg_ctl", "postgres", "pg_dump", "psql", "createdb")
SYSTEM_PACKAGES = ("apt-get install -y postgresql-15 redis-server "
                   "(or: scripts/install-system.sh all)")
LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements" / "netbox-lock.txt"
_COMPLETE = ".ssc-complete"


def version_dir() -> Path:
    """The cache folder of this NetBox version: its venv, the migrated dump, the pepper."""
    path = cache_dir() / f"netbox-{NETBOX_VERSION}"
    path.mkdir(exist_ok=True, mode=0o700)
    return path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`: a second test run waits instead of building too."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(command: Sequence[str | Path], what: str, *, env: Mapping[str, str] | None = None,
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

    The venv is made by Python 3.12 and installed from lab/requirements/netbox-lock.txt with
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
    with locked(folder / "venv.lock"):
        if marker.exists() and marker.read_text(encoding="utf-8").strip() == wanted:
            return venv
        python = find_python312()
        shutil.rmtree(venv, ignore_errors=True)
        run([python, "-m", "venv", venv], "making NetBox's venv")
        pip: list[str | Path] = [venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                                 "--disable-pip-version-check"]
        if lock:
            run([*pip, "--require-hashes", "-r", LOCK_FILE],
                f"installing NetBox {NETBOX_VERSION} from {LOCK_FILE}", timeout=1800)
        else:
            run([*pip, f"netbox=={NETBOX_VERSION}"], f"installing NetBox {NETBOX_VERSION}",
                timeout=1800)
        marker.write_text(wanted + "\n", encoding="utf-8")
    return venv


def version_secret(name: str) -> str:
    """A random value kept 0600 beside the dump (SECRET_KEY, the token pepper), made once."""
    folder = version_dir()
    path = folder / name
    with locked(folder / "secrets.lock"):
        if not path.exists():
            write_secret(path, secrets.token_urlsafe(48))  # 64 characters; NetBox wants 50+
    return path.read_text(encoding="utf-8").strip()
