"""YAML read with the line of every key and item, so problems can point at file:line.

PyYAML's composer keeps a start mark on every node; we walk the node tree once, building the
plain Python value and a map from each path (keys and list indexes) to its 1-based line.
Duplicate keys, which PyYAML would silently let the last one win, are reported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ssc_infra.errors import Problem

try:  # libyaml is much faster, but only a nice-to-have
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]


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


def read_yaml(path: Path, rel: str) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML file. Returns the document, or None with the problems that stopped it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(rel, 0, "file not found", "check the path and the file name")]
    except UnicodeDecodeError as e:
        return None, [Problem(rel, 0, f"not UTF-8 text ({e.reason})", "save the file as UTF-8")]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = e.problem or str(e)
        hint = "check indentation and quoting around this line"
        return None, [Problem(rel, line, f"YAML syntax error: {what}", hint)]
    if node is None:
        return None, [Problem(rel, 1, "the file is empty", "see `ssc-infra schema` for its keys")]
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    data = _build(node, (), lines, problems, rel)
    return Located(rel, data, lines), problems


def _build(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[Problem], rel: str
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Keys are names here: 120 or yes as a key means the text "120" or "yes".
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "<complex>"
            child = (*path, key)
            if key in result:
                problems.append(
                    Problem(
                        rel,
                        key_node.start_mark.line + 1,
                        f"duplicate key {key!r} (first on line {lines[child]})",
                        "remove one of them; YAML would silently keep only the last",
                    )
                )
            lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, lines, problems, rel)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), lines, problems, rel)
            for index, item in enumerate(node.value)
        ]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # Construct one scalar with the safe constructor, so 90 stays int and "yes" stays as YAML says.
    loader = _Loader("")
    try:
        return loader.construct_object(node, deep=True)
    except ValueError:
        return node.value  # e.g. 2026-13-01 looks like a date and is none: the checks say so
    finally:
        loader.dispose()
