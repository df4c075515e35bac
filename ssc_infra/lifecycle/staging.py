"""Changes to the inventory folder, staged: written into a copy of the inventory, loaded there
with the real loader (`ssc_infra.sources.files`) as the whole region, and moved into the
inventory only when the region loads — never over a file that is there.

A lifecycle command (onboard, later offboard and merge) never leaves the inventory half
changed: a problem anywhere in the result leaves the real folder exactly as it was, and the
files go into place each whole (written beside their place, then linked in under their name,
which fails rather than overwrite), the data files before the partner file that names them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from ssc_infra.core.errors import InventoryError, Problem, SscError
from ssc_infra.sources import Loaded
from ssc_infra.sources.files import load_holding

# The loader reads partners/*.yaml before partners/*.yml. A newcomer staged as .yml is checked
# last, so a VLAN, subnet, UPN suffix or site code it shares with a partner already there is
# reported at the newcomer's line, not at the existing partner's.
LAST = ".yml"


class PlaceError(SscError):
    """A staged file could not be put into the inventory; what was placed is taken back."""


@dataclass(frozen=True)
class Checked:
    """The region loaded from the staged copy: problems that stop the change, and the
    partners held back by problems of their own that the change does not touch."""

    loaded: Loaded | None
    problems: tuple[Problem, ...] = ()
    others_held: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.loaded is not None and not self.problems


def _inside(rel: str) -> bool:
    path = PurePosixPath(rel)
    return bool(path.parts) and not path.is_absolute() and ".." not in path.parts


def staged_name(rel: str) -> str:
    """Where a file is written in the staged copy: a partner file as .yml (see `LAST`)."""
    if rel.startswith("partners/") and rel.endswith(".yaml"):
        return rel.removesuffix(".yaml") + LAST
    return rel


@contextlib.contextmanager
def staged(inventory: Path, files: Mapping[str, str],
           replaced: Mapping[str, str] | None = None) -> Iterator[Path]:
    """A temporary copy of the inventory with `files` (inventory-relative path -> text) added
    and `replaced` written over the files of the same names.

    Raises:
        SscError: a path outside the inventory, or one of `files` already there.
    """
    with tempfile.TemporaryDirectory(prefix="ssc-staged-") as tmp:
        folder = Path(tmp) / "inventory"
        if inventory.is_dir():
            shutil.copytree(inventory, folder, ignore=shutil.ignore_patterns(".git"),
                            symlinks=True)
        else:
            folder.mkdir()  # the loader says there is no such inventory
        for rel, text in files.items():
            if not _inside(rel):
                raise SscError(f"{rel!r} is not a path inside the inventory")
            path = folder / staged_name(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8", newline="") as handle:
                handle.write(text)
        for rel, text in (replaced or {}).items():
            if not _inside(rel):
                raise SscError(f"{rel!r} is not a path inside the inventory")
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8", newline="")
        yield folder


def check(folder: Path, today: date, *partners: str) -> Checked:
    """Load the staged region: every problem that stops the run, and the new or changed
    partners' own; other partners held by their own data are named, not blamed."""
    try:
        loaded = load_holding(folder, today)
    except InventoryError as e:
        return Checked(None, tuple(_unstaged(e.problems)))
    own = [p for code in partners for p in loaded.held.get(code, ())]
    others = tuple(code for code in loaded.held if code not in partners)
    return Checked(loaded, tuple(_unstaged(own)), others)


def _unstaged(problems: list[Problem] | tuple[Problem, ...]) -> list[Problem]:
    """Problems told by the files' real names (a staged partner file is .yml)."""
    out = []
    for p in problems:
        file = p.file
        if file.startswith("partners/") and file.endswith(LAST):
            file = file.removesuffix(LAST) + ".yaml"
        out.append(Problem(file, p.line, p.message, p.hint, p.partner))
    return out


def taken(inventory: Path, rels: list[str]) -> list[str]:
    """Those of `rels` that the inventory has already (also as a dangling symlink), and a
    partner file under its other extension."""
    found: list[str] = []
    for rel in rels:
        names = [rel]
        if rel.startswith("partners/") and rel.endswith(".yaml"):
            names.append(rel.removesuffix(".yaml") + LAST)
        found.extend(n for n in names if os.path.lexists(inventory / n))
    return found


def place(inventory: Path, files: Mapping[str, str]) -> list[str]:
    """Put the files into the inventory, in order, each whole and none over an existing one.

    Each is written to a temporary name beside its place, synced, and linked under its name
    (a link fails when the name exists: no check-then-write race). On any failure the files
    placed by this call are removed again.

    Returns:
        The inventory-relative paths written.

    Raises:
        PlaceError: a file exists already or cannot be written; nothing stays placed.
    """
    placed: list[Path] = []
    try:
        for rel, text in files.items():
            if not _inside(rel):
                raise PlaceError(f"{rel!r} is not a path inside the inventory")
            target = inventory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_new(target, text)
            placed.append(target)
    except BaseException:
        for path in reversed(placed):
            path.unlink(missing_ok=True)
        raise
    return list(files)


@dataclass
class Replaced:
    """Files written over their old selves (`replace`), and how to put them back."""

    inventory: Path
    before: dict[str, bytes]  # inventory-relative path -> its bytes before

    def undo(self) -> None:
        for rel, data in self.before.items():
            _over(self.inventory / rel, data)


def replace(inventory: Path, files: Mapping[str, str]) -> Replaced:
    """Write each file whole over the one of its name (written beside it, synced, renamed
    over it); on a failure the ones written already are put back.

    Raises:
        PlaceError: a file is not there, or cannot be written.
    """
    done = Replaced(inventory, {})
    try:
        for rel, text in files.items():
            if not _inside(rel):
                raise PlaceError(f"{rel!r} is not a path inside the inventory")
            target = inventory / rel
            try:
                old = target.read_bytes()
            except OSError as e:
                raise PlaceError(f"cannot read {target}: {e.strerror or e}") from e
            _over(target, text.encode("utf-8"))
            done.before[rel] = old
    except BaseException:
        done.undo()
        raise
    return done


def _over(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.new")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)
    except OSError as e:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise PlaceError(f"cannot write {target}: {e.strerror or e}") from e


def _write_new(target: Path, text: str) -> None:
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.new")
    try:
        # The inventory is the engineers' folder under git: their umask decides the mode.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise PlaceError(f"{target} exists already: nothing is written over it; move it "
                             "away, or pick another partner code") from None
    except OSError as e:
        raise PlaceError(f"cannot write {target}: {e.strerror or e}; nothing of the partner "
                         "stays in the inventory: fix the folder's permissions or free "
                         "space, and run again") from e
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    with contextlib.suppress(OSError):
        folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
