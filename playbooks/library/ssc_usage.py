#!/usr/bin/python
"""Ansible module: how much every partner's home folders hold, in one read-only call.

The usage report (`ssc-infra report usage`) bills home storage per partner. A task per home
would cost a quarter of a second each; this module walks every partner's homes and archived
homes in one call and changes nothing.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ssc_usage
short_description: Bytes in every partner's home folders, read in one call
description:
  - For each partner, the apparent size in bytes and the number of the regular files below
    I(homes_dir)/<partner> and I(archive_dir)/<partner>. A file with several hard links counts
    once; symbolic links are not followed; a folder that is not there holds 0 bytes.
  - Read only, in check mode too. A folder that cannot be read is reported per partner, so
    that partner's figure is not taken as complete.
options:
  partners:
    description: The partner codes whose folders are read.
    type: list
    elements: str
    required: true
  root: {description: Prefix of every path (a lab's per-host root)., type: str, default: ""}
  homes_dir: {description: The folder with a folder per partner., type: str,
              default: /srv/homes}
  archive_dir: {description: The archived homes, a folder per partner., type: str,
                default: /srv/archive/homes}
  detail:
    description:
      - Partners whose every home folder is listed on its own (name, owner, files, bytes,
        newest change): the home-folder manifest of a partner's handover bundle.
    type: list
    elements: str
    default: []
author: ssc-infra
"""

EXAMPLES = r"""
- name: Home storage per partner
  ssc_usage:
    partners: [leeuwarden, waadhoeke]
"""

RETURN = r"""
storage:
  description: >-
    partner -> homes_bytes, homes_files, archive_bytes, archive_files, unreadable (how many
    folders or files could not be read) and problems (the first few, path on the host and why);
    for a partner in I(detail) also folders, a list of every home and archived home with kind,
    name, path, owner, files, bytes and newest (the latest change of a file in it, ISO UTC)
  type: dict
  returned: always
"""

import datetime
import json
import os
import pwd
import re
import sys

ARGUMENTS = {
    "partners": {"type": "list", "elements": "str", "required": True},
    "root": {"type": "str", "default": ""},
    "homes_dir": {"type": "str", "default": "/srv/homes"},
    "archive_dir": {"type": "str", "default": "/srv/archive/homes"},
    "detail": {"type": "list", "elements": "str", "default": []},
}

CODE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")  # a partner code, as the inventory has it
PROBLEMS_KEPT = 5


def measure(folder, shown, newest=None):
    """(bytes, files, unreadable, problems) below `folder`; `shown` strips the lab's root from
    the paths in the problems; `newest` (a one-item list) gets the latest mtime seen."""
    total = files = unreadable = 0
    problems = []
    seen = set()
    stack = [folder]

    def problem(path, error):
        nonlocal unreadable
        unreadable += 1
        if len(problems) < PROBLEMS_KEPT:
            problems.append(f"{shown(path)}: {error.strerror or error}")

    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            continue
                        if not entry.is_file(follow_symlinks=False):
                            continue  # links, sockets, FIFOs hold no data of their own
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed while it was read: it holds nothing now
                    except OSError as e:
                        problem(entry.path, e)
                        continue
                    if st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        if key in seen:
                            continue
                        seen.add(key)
                    total += st.st_size
                    files += 1
                    if newest is not None and st.st_mtime > newest[0]:
                        newest[0] = st.st_mtime
        except (FileNotFoundError, NotADirectoryError):
            continue  # no such folder (yet), or one removed while it was read: 0 bytes
        except OSError as e:
            problem(current, e)
    return total, files, unreadable, problems


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def folders(base, kind, shown):
    """Every home folder directly below `base`, measured on its own (the manifest's rows)."""
    rows = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return rows
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        newest = [0.0]
        size, files, unreadable, _problems = measure(entry.path, shown, newest)
        st = entry.stat(follow_symlinks=False)
        rows.append({
            "kind": kind, "name": entry.name, "path": shown(entry.path),
            "owner": _owner(st.st_uid), "files": files, "bytes": size,
            "unreadable": unreadable,
            "newest": datetime.datetime.fromtimestamp(
                newest[0], datetime.timezone.utc  # noqa: UP017 (hosts with Python < 3.11)
            ).isoformat(timespec="seconds")
            if newest[0] else ""})
    return rows


def run(params):
    root = params["root"].rstrip("/")
    bad = [p for p in params["partners"] if not CODE.match(p)]
    if bad:
        raise ValueError(f"not a partner code: {bad[0]!r}")

    def shown(path):
        return path[len(root):] if root and path.startswith(root) else path

    storage = {}
    for partner in sorted(set(params["partners"])):
        found = {"unreadable": 0, "problems": []}
        for kind, folder in (("homes", params["homes_dir"]), ("archive", params["archive_dir"])):
            size, files, unreadable, problems = measure(f"{root}{folder}/{partner}", shown)
            found[f"{kind}_bytes"] = size
            found[f"{kind}_files"] = files
            found["unreadable"] += unreadable
            found["problems"] += problems
        found["problems"] = found["problems"][:PROBLEMS_KEPT]
        if partner in (params.get("detail") or ()):
            found["folders"] = (
                folders(f"{root}{params['homes_dir']}/{partner}", "home", shown)
                + folders(f"{root}{params['archive_dir']}/{partner}", "archive", shown))
        storage[partner] = found
    return storage


def work(args, check_mode, diff):
    """The task's result: the storage per partner; it only reads (the same in check mode)."""
    try:
        return {"changed": False, "storage": run(args)}
    except ValueError as e:
        return {"failed": True, "msg": f"home storage: {e}"}


# ---- The same in every JSON-in/JSON-out module of this folder (tests/unit/test_json_modules.py
# keeps the copies equal): such a module is one file on the host, so it can import nothing of
# Ansible's or ssc-infra's. Ansible passes a WANT_JSON module its arguments as a JSON file and
# runs it as it is, without AnsiballZ: no module_utils to unpack and compile on every run (about
# a quarter of a second of CPU each time).

def checked(params, argument_spec):
    """The arguments, checked and converted as AnsibleModule does; ValueError names the fault."""
    unknown = sorted(k for k in params if k not in argument_spec and not k.startswith("_ansible_"))
    if unknown:
        raise ValueError(f"unsupported parameters: {', '.join(unknown)}")
    args = {}
    for name, option in argument_spec.items():
        value = params.get(name)
        if value is None:
            if option.get("required"):
                raise ValueError(f"missing required arguments: {name}")
            args[name] = json.loads(json.dumps(option.get("default")))  # a fresh copy
            continue
        value = _converted(name, value, option["type"])
        if "elements" in option:
            value = [_converted(f"{name} (an element)", v, option["elements"]) for v in value]
        if "choices" in option and value not in option["choices"]:
            raise ValueError(f"value of {name} must be one of: {', '.join(option['choices'])}, "
                             f"got: {value}")
        args[name] = value
    return args


def _converted(name, value, kind):
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    if kind == "list" and isinstance(value, list):
        return value
    if kind == "list" and isinstance(value, str):
        return value.split(",")  # as AnsibleModule: "a,b" is two elements
    if kind == "dict" and isinstance(value, dict):
        return value
    raise ValueError(f"argument {name} is of type {type(value).__name__} and cannot be "
                     f"converted to {kind}")


def answer(argument_spec, work):
    """Read the arguments (the JSON file Ansible names), run work(arguments, check_mode, diff)
    on them, print its result as JSON and exit 1 when it says failed."""
    try:
        with open(sys.argv[1], encoding="utf-8") as handle:
            params = json.load(handle)
        if not isinstance(params, dict):
            raise ValueError("they are not a mapping")
    except (IndexError, OSError, ValueError) as e:
        result = {"failed": True, "msg": f"no arguments could be read: {e}"}
    else:
        try:
            args = checked(params, argument_spec)
        except ValueError as e:
            result = {"failed": True, "msg": str(e)}
        else:
            result = work(args, params.get("_ansible_check_mode") is True,
                          params.get("_ansible_diff") is True)
    print(json.dumps(result))
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    answer(ARGUMENTS, work)
