#!/usr/bin/python
"""Ansible module: a role's managed files in one call - each refused when it changed since the
reviewed plan, checked by its daemon's checker, then put in place atomically.

Where a role once ran a digest task, a checker copy and a copy task per file (the copy alone is
two module runs), this module does it all in one: a module run costs about a third of a second
of CPU on the controller and the host, and over SSH a round trip each.

Order on the host: every file's digest is compared with the plan's first (any difference:
nothing is written); then the config checker is put in place; then each file that differs is
written next to its destination, checked by its `validate` command, and renamed over the old
one (a refused file leaves the old one as it was). In check mode nothing is written and the
diff says what would change.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ssc_files
short_description: A role's managed files, refused when changed since the plan, checked, atomic
description:
  - For each of I(files), the SHA-256 of the file as it is now (C(absent) when there is none);
    with I(expect), fails before anything is written when a file is not the one the plan saw.
  - Puts the config checker (I(checker), at I(checker_path)) in place when it differs.
  - Writes each file that differs in content or mode to a temporary file beside it, runs its
    I(validate) command on that (C(%s) is the temporary file), and renames it over the old
    one; the old file's owner is kept. A refused file fails the task and the old one stays.
options:
  root: {description: Prefix of every path (a lab's per-host root)., type: str, default: ""}
  files:
    description: The files - dicts with path (on the host, without I(root)), content, mode
      and an optional validate command.
    type: list
    elements: dict
    required: true
  expect:
    description: The digests the plan saw, path -> SHA-256; a file not named is not compared.
    type: dict
    default: {}
  checker: {description: The config checker's content (ssc-check)., type: str}
  checker_path: {description: Where the checker goes (with I(root))., type: str}
author: ssc-infra
"""

EXAMPLES = r"""
- name: Samba configuration, checked by testparm before it replaces the old one
  ssc_files:
    root: "{{ ssc_root }}"
    expect: "{{ ssc_expect[inventory_hostname] | default({}) }}"
    checker: "{{ lookup('ansible.builtin.file', playbook_dir ~ '/files/ssc-check', rstrip=false) }}"
    checker_path: "{{ ssc_check }}"
    files:
      - path: /etc/samba/smb.conf
        content: "{{ lookup('ansible.builtin.file', ssc_host_files ~ '/etc/samba/smb.conf',
                            rstrip=false) }}"
        mode: "0644"
        validate: "{{ ssc_check }} samba %s"
"""

RETURN = r"""
ssc_files:
  description: Per file - path, sha256 as found (or "absent"), changed, and mode as
    [before, after] when the mode changes.
  type: list
  returned: always
checker_changed: {description: Whether the checker was (or would be) put in place., type: bool,
                  returned: always}
"""

import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import time

ARGUMENTS = {
    "root": {"type": "str", "default": ""},
    "files": {"type": "list", "elements": "dict", "required": True},
    "expect": {"type": "dict", "default": {}},
    "checker": {"type": "str"},
    "checker_path": {"type": "str"},
}

CHECKER_MODE = 0o755
TEMP_PREFIX = ".ssc-"
LEFTOVER_AGE = 3600  # seconds a temporary folder is left alone: a run may still be at work


def run_command(argv):
    """rc, stdout and stderr of a command, run without a shell."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              check=False)
    except OSError as e:  # no such checker
        return 127, "", str(e)
    return done.returncode, done.stdout, done.stderr


def validate_argv(validate, path):
    """The validate command's words with %s made `path`: split before the path goes in, so a
    path with a space or a quote stays one word (and a % in it is only a character)."""
    return [word.replace("%s", path) for word in shlex.split(validate)]


def digest(data):
    return hashlib.sha256(data).hexdigest()


def read(path):
    """The file's bytes and mode; (None, None) when there is none."""
    if not os.path.lexists(path):
        return None, None
    with open(path, "rb") as handle:
        data = handle.read()
    return data, stat.S_IMODE(os.lstat(path).st_mode)


class Refused(Exception):
    """The validate command refused the new file: its rc, stdout and stderr."""


class Failure(Exception):
    """The task fails: a message and what else the result carries."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


def clear_leftovers(parent, name, now=None):
    """Remove what a run killed between writing a file and renaming it left beside it.

    Only a folder of exactly the shape `put` makes is removed: a real folder (not a link)
    named .ssc-*, owned by this user, untouched for LEFTOVER_AGE seconds (a run that is still
    at work is never that slow), holding nothing or one regular file of this name. Anything
    else is left where it is.
    """
    now = time.time() if now is None else now
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(TEMP_PREFIX):
            continue
        folder = os.path.join(parent, entry)
        try:
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() \
                    or now - info.st_mtime < LEFTOVER_AGE:
                continue
            inside = os.listdir(folder)
            if inside not in ([], [name]):
                continue
            if inside:
                left = os.path.join(folder, name)
                if not stat.S_ISREG(os.lstat(left).st_mode):
                    continue
                os.unlink(left)
            os.rmdir(folder)
        except OSError:
            continue


def put(run_command, path, data, mode, validate):
    """Write `data` beside `path`, check it with `validate`, rename it over `path`.

    Raises:
        Refused: the check failed (the old file is left as it was).
        OSError: the file could not be written.
    """
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    # In a folder of its own beside the old file, under the same name: a checker may care
    # about the name (wg-quick wants an interface name and .conf), and the rename stays on
    # one filesystem.
    clear_leftovers(parent, os.path.basename(path))
    folder = tempfile.mkdtemp(dir=parent, prefix=TEMP_PREFIX)
    temporary = os.path.join(folder, os.path.basename(path))
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), mode)
            if os.path.exists(path) and os.geteuid() == 0:
                old = os.stat(path)
                os.fchown(out.fileno(), old.st_uid, old.st_gid)
            out.flush()
            os.fsync(out.fileno())
        if validate:
            rc, out_text, err_text = run_command(validate_argv(validate, temporary))
            if rc != 0:
                raise Refused(rc, out_text, err_text)
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.rmdir(folder)


def wanted_files(params):
    """(path, bytes, mode, validate, bytes now or None, mode now or None) of each file."""
    root = (params.get("root") or "").rstrip("/")
    wanted = []
    for item in params["files"]:
        path, content = str(item.get("path") or ""), item.get("content")
        if not path.startswith("/") or not isinstance(content, str):
            raise Failure(f"every file needs an absolute path and a content: {path!r}")
        try:
            mode = int(str(item.get("mode") or "0644"), 8)
        except ValueError:
            raise Failure(f"{path}: mode {item.get('mode')!r} is not octal") from None
        validate = item.get("validate") or ""
        if validate and "%s" not in validate:
            raise Failure(f"{path}: the validate command has no %s for the file")
        try:
            shlex.split(validate)
        except ValueError as e:
            raise Failure(f"{path}: the validate command cannot be split into words: {e}") \
                from None
        try:
            before, before_mode = read(root + path)
        except OSError as e:
            raise Failure(f"{path}: cannot read it: {e}") from None
        wanted.append((path, content.encode("utf-8"), mode, validate, before, before_mode))
    return wanted


def run(params, check_mode, diff, run_command):
    """The module's work on checked arguments (tests call it): its result, or Failure."""
    root = (params.get("root") or "").rstrip("/")
    wanted = wanted_files(params)
    found = [{"path": path, "sha256": "absent" if before is None else digest(before)}
             for path, _, _, _, before, _ in wanted]
    expect = params.get("expect") or {}
    for seen in found:
        expected = expect.get(seen["path"])
        if expected and expected != seen["sha256"]:
            raise Failure(f"{seen['path']} changed since the plan was made (the plan saw "
                          f"{expected[:12]}, the host has {seen['sha256'][:12]}); the file is "
                          "left as it is: make a new plan", ssc_files=found)

    checker_changed = False
    checker, checker_path = params.get("checker"), params.get("checker_path")
    if checker is not None and checker_path:
        data = checker.encode("utf-8")
        try:
            old, old_mode = read(checker_path)
            checker_changed = old != data or old_mode != CHECKER_MODE
            if checker_changed and not check_mode:
                put(run_command, checker_path, data, CHECKER_MODE, "")
        except OSError as e:
            raise Failure(f"{checker_path}: cannot put the checker there: {e}",
                          ssc_files=found) from None

    diffs = []
    for index, (path, data, mode, validate, before, before_mode) in enumerate(wanted):
        seen = found[index]  # (no zip(strict=): a host's Python may be older than 3.10)
        content_changed = before != data
        seen["changed"] = content_changed or before_mode != mode
        if before_mode is not None and before_mode != mode:
            seen["mode"] = [f"{before_mode:04o}", f"{mode:04o}"]
        if content_changed and diff:
            diffs.append({"before_header": path, "after_header": path,
                          "before": (before or b"").decode("utf-8", "replace"),
                          "after": data.decode("utf-8", "replace")})
        if seen["changed"] and not check_mode:
            try:
                put(run_command, root + path, data, mode, validate)
            except Refused as e:
                rc, out_text, err_text = e.args
                raise Failure("failed to validate", rc=rc, stdout=out_text, stderr=err_text,
                              path=path, ssc_files=found) from None
            except OSError as e:
                raise Failure(f"{path}: cannot write it: {e}", ssc_files=found) from None

    result = {"changed": checker_changed or any(seen["changed"] for seen in found),
              "ssc_files": found, "checker_changed": checker_changed}
    if diffs:
        result["diff"] = diffs
    return result


def work(args, check_mode, diff):
    """The task's result: run's, or the Failure it raised. It does not carry the arguments back
    (AnsibleModule would, as `invocation`): a run's job events would otherwise hold every file
    whole."""
    try:
        return run(args, check_mode, diff, run_command)
    except Failure as e:
        return dict(e.extra, failed=True, msg=e.msg)


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
