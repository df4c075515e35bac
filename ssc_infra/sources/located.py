"""YAML read with the line of every key and item, so problems can point at file:line.

PyYAML's composer keeps a start mark on every node; we walk the node tree once, building the
plain Python value and a map from each path (keys and list indexes) to its 1-based line.
Duplicate keys, which PyYAML would silently let the last one win, are reported here.

Everything read here may be hostile: a file is read only when it is a regular file of a sane
size (a FIFO never blocks the run), and a YAML document only when its nesting depth, aliases
and size stay small (a "billion laughs" file or a self-referencing anchor is a problem of the
file, not a MemoryError or a crash of libyaml). Whatever is wrong becomes a Problem.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ssc_infra.core.errors import Problem

try:  # libyaml is much faster, but only a nice-to-have
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

YAML_MAX_BYTES = 1 << 20  # region.yaml of a big region is a few KiB
CSV_MAX_BYTES = 50 << 20  # an HR export of 200,000 people is about 20 MiB
YAML_MAX_DEPTH = 20  # the inventory nests four levels deep
YAML_MAX_ALIASES = 50  # an alias repeats a list or a mapping; a few are handy, more are a bomb
YAML_MAX_VALUES = 20_000  # values built, aliases expanded; a region.yaml has a few hundred
_SURROGATE = re.compile("[\ud800-\udfff]")
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True)
class Located:
    """A parsed YAML document and where each part of it stands in the file."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1


# What to do about a file outside the folders it may be read from (`read_regular`'s `within`).
DROP_FOLDER_HINT = ("put the export in a folder the target names under hr.drop_folders, or add "
                    "its folder there (targets.yaml)")
INVENTORY_HINT = ("keep the inventory's files inside the inventory folder: copy the file in (a "
                  "symlink that leads out of it is not followed: what it reaches could be "
                  "anything, and problems quote what they read), or let `ssc-infra hr pull` "
                  "fetch an HR export from a drop folder")


def read_regular(path: Path, rel: str, limit: int, within: Sequence[str] | None = None,
                 outside_hint: str = DROP_FOLDER_HINT) -> bytes | Problem:
    """The bytes of a regular file of at most `limit` bytes, or the Problem why not.

    Opened non-blocking and checked with fstat before a byte is read, so a FIFO, a device or a
    directory where a file should be is refused at once instead of hanging or flooding the run.

    Args:
        within: when given, the folders the file must be in: it is refused when the file it
            opened (symlinks followed, as the kernel resolved them at the open) is outside all.
        outside_hint: what to do then.

    Raises:
        FileNotFoundError: when there is no such file (the caller knows where it was named).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        return Problem(rel, 0, f"cannot open the file: {e.strerror or e}",
                       "check that the path names a readable file (not a symlink loop)")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)),
                        "something else")
            return Problem(rel, 0, f"not a regular file but {kind}",
                           f"put the file itself at {path}")
        if within is not None:
            outside = _outside(fd, path, rel, within, outside_hint)
            if outside is not None:
                return outside
        if info.st_size > limit:
            return _too_large(rel, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while we read
            return _too_large(rel, limit)
        return b"".join(chunks)
    except OSError as e:
        return Problem(rel, 0, f"cannot read the file: {e.strerror or e}", "check the file")
    finally:
        os.close(fd)


def _outside(fd: int, path: Path, rel: str, folders: Sequence[str],
             hint: str) -> Problem | None:
    """A Problem when the open file `fd` is in none of `folders`, None when it is in one.

    The file is named by what the open itself reached (/proc/self/fd), so a symlink swapped
    in between a check and the open cannot lead outside.
    """
    try:
        opened = Path(f"/proc/self/fd/{fd}").readlink()
    except OSError:
        opened = path.resolve()
    for folder in map(Path, folders):
        real = _real(folder)
        if folder.is_absolute() and opened != real and opened.is_relative_to(real):
            return None
    shown = ", ".join(folders) or "none"
    return Problem(rel, 0, f"{path} is outside the folders it may be read from ({shown})",
                   hint)


@functools.lru_cache(maxsize=64)
def _real(folder: Path) -> Path:
    """A folder's real path, once per folder: an inventory is hundreds of files in one."""
    return folder.resolve()


def _too_large(rel: str, limit: int) -> Problem:
    return Problem(rel, 0, f"the file is larger than {limit >> 20} MiB",
                   "check that it is the right file; an inventory file is far smaller")


def read_text(path: Path, rel: str, limit: int, hint: str,
              within: Sequence[str] | None = None,
              outside_hint: str = DROP_FOLDER_HINT) -> str | Problem:
    """`read_regular`, then `decode` with `hint`: the UTF-8 text of a regular file, or the
    Problem why not.

    Raises:
        FileNotFoundError: when there is no such file.
    """
    data = read_regular(path, rel, limit, within, outside_hint)
    return decode(data, rel, hint) if isinstance(data, bytes) else data


def decode(data: bytes, rel: str, hint: str) -> str | Problem:
    """UTF-8 text (a BOM is dropped), or a Problem naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return Problem(rel, line, f"not UTF-8 text ({e.reason} at byte {e.start})", hint)


def inside(inventory: Path | None) -> tuple[list[str] | None, str]:
    """`read_regular`'s `within` and `outside_hint` for a file of the inventory folder (or of
    none, for a file passed in on the command line)."""
    if inventory is None:
        return None, DROP_FOLDER_HINT
    return [str(inventory.absolute())], INVENTORY_HINT


def read_yaml(path: Path, rel: str,
              inventory: Path | None = None) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML file. Returns the document, or None with the problems that stopped it.

    Args:
        inventory: the inventory folder the file is one of: it is read only when it is in
            there (`inside`).
    """
    try:
        text = read_text(path, rel, YAML_MAX_BYTES, "save the file as UTF-8", *inside(inventory))
    except FileNotFoundError:
        return None, [Problem(rel, 0, "file not found", "check the path and the file name")]
    if isinstance(text, Problem):
        return None, [text]
    hint = "check indentation and quoting around this line"
    try:
        _check_shape(text, rel)
        node = yaml.compose(text, Loader=_Loader)
    except _TooComplex as e:
        return None, [e.problem]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        return None, [Problem(rel, line, f"YAML syntax error: {e.problem or e}", hint)]
    except yaml.reader.ReaderError as e:
        # A character YAML does not allow (a control character, a NUL) anywhere in the file.
        line = text.count("\n", 0, e.position) + 1
        return None, [Problem(rel, line, f"character U+{e.character:04X} is not allowed in YAML",
                              "remove it; write it as an escape in a double-quoted string if "
                              "it is meant")]
    except yaml.YAMLError as e:
        return None, [Problem(rel, 0, f"YAML error: {e}", hint)]
    if node is None:
        return None, [Problem(rel, 1, "the file is empty", "see `ssc-infra schema` for its keys")]
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    builder = _Builder(rel, lines, problems)
    try:
        value = builder.build(node, ())
    except _TooComplex as e:
        return None, [e.problem]
    finally:
        builder.loader.dispose()
    return Located(rel, value, lines), problems


class _TooComplex(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _check_shape(text: str, rel: str) -> None:
    """Refuse, from the event stream, a document nested too deep or with too many aliases.

    libyaml composes recursively (a deep file crashes the interpreter), so this runs first,
    on the parser's events, which come one by one without recursion.
    """
    open_anchors: list[str | None] = []
    aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.CollectionStartEvent):
            open_anchors.append(event.anchor)
            if len(open_anchors) > YAML_MAX_DEPTH:
                raise _TooComplex(Problem(rel, line, f"nested deeper than {YAML_MAX_DEPTH} levels",
                                          "the inventory files nest only a few levels"))
        elif isinstance(event, yaml.CollectionEndEvent):
            open_anchors.pop()
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if event.anchor in open_anchors:
                raise _TooComplex(Problem(rel, line, f"alias *{event.anchor} refers to the value "
                                          "it stands in", "write the value out instead"))
            if aliases > YAML_MAX_ALIASES:
                raise _TooComplex(Problem(rel, line, f"more than {YAML_MAX_ALIASES} aliases",
                                          "write the values out instead of using *aliases"))


class _Builder:
    """Builds the plain value of a node tree, noting the line of every key and item."""

    def __init__(self, rel: str, lines: dict[Path_, int], problems: list[Problem]) -> None:
        self.rel, self.lines, self.problems = rel, lines, problems
        self.values = 0
        self.loader = _Loader("")  # only its constructor is used, one scalar at a time

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.values += 1
        if self.values > YAML_MAX_VALUES:
            raise _TooComplex(Problem(
                self.rel, node.start_mark.line + 1,
                f"more than {YAML_MAX_VALUES} values (with aliases expanded)",
                "write the values out instead of nesting *aliases"))
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                # Keys are names here: 120 or yes as a key means the text "120" or "yes".
                key = (self._text(key_node) if isinstance(key_node, yaml.ScalarNode)
                       else "<complex>")
                child = (*path, key)
                if key in result:
                    self.problems.append(Problem(
                        self.rel, key_node.start_mark.line + 1,
                        f"duplicate key {key!r} (first on line {self.lines[child]})",
                        "remove one of them; YAML would silently keep only the last",
                    ))
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _text(self, node: yaml.Node) -> str:
        text = str(node.value)
        if _SURROGATE.search(text):
            self._bad(node, "a \\uD800-\\uDFFF escape is half a character",
                      "write the character itself")
            return _SURROGATE.sub("\ufffd", text)
        return text

    def _scalar(self, node: yaml.Node) -> Any:
        # Construct one scalar with the safe constructor, so 90 stays int and "yes" stays as
        # YAML says. A tag or a value it cannot construct (!!python/object, a 5,000-digit
        # number, 2026-02-30) is a problem of that line.
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError) as e:
            problem = getattr(e, "problem", None) or str(e)
            self._bad(node, f"cannot read the value: {str(problem)[:200]}",
                      "quote it if it is text; see `ssc-infra schema` for what the key takes")
            return None
        if isinstance(value, str) and _SURROGATE.search(value):
            self._bad(node, "a \\uD800-\\uDFFF escape is half a character",
                      "write the character itself")
            return None
        return value

    def _bad(self, node: yaml.Node, message: str, hint: str) -> None:
        self.problems.append(Problem(self.rel, node.start_mark.line + 1, message, hint))
