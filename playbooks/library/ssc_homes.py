#!/usr/bin/python
"""Ansible module: every partner's home directories in one call, for thousands of people.

A task per person costs a quarter of a second each; this module takes the whole list, makes
what is missing, fixes mode and owner, moves the homes of people who are gone to the archive
(never deletes them) and brings an archived home back when its owner returns.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ssc_homes
short_description: Home directories of all partners, kept in one call
description:
  - Creates a home directory per person below I(homes_dir)/<partner>, with the given owner and
    mode; moves directories of people no longer listed to I(archive_dir)/<partner> (never
    deletes); restores an archived home when its owner is listed again.
  - A partner whose list would archive more than I(max_archive) homes is held back (a truncated
    HR export must not archive a municipality); the other partners still converge.
options:
  spec:
    description:
      - What `ssc-infra render` writes to <host>/.ssc/homes.json - homes_dir, archive_dir,
        partners (whose homes this module manages), shares (partner, path) and homes (dicts
        with partner, name, owner).
    type: dict
    required: true
  only_partners:
    description:
      - Limit this run to these partners; an empty list touches no partner's homes. Default
        (null) all of I(partners).
    type: list
    elements: str
  root: {description: Prefix of every path (a lab's per-host root)., type: str, default: ""}
  mode: {description: Mode of a home directory., type: str, default: "0700"}
  unknown_owner:
    description: What to do when an owner does not resolve on the host (fail, or keep root).
    type: str
    choices: [fail, keep]
    default: fail
  max_archive: {description: Most homes one partner may have archived in one run., type: int,
                default: 50}
  allow_archive:
    description:
      - Per partner, the homes this run may archive instead of I(max_archive) (the operator's
        explicit override, e.g. for a partner that leaves the SSC).
    type: dict
    default: {}
  hold_archive:
    description: Partners whose plan a guard held back - their homes are not archived now.
    type: list
    elements: str
    default: []
  expect_digest:
    description:
      - The C(digest) the reviewed plan saw; when the homes and archives are no longer as they
        were then, nothing is changed and the task fails (an old plan never rolls homes back).
    type: str
author: ssc-infra
"""

EXAMPLES = r"""
- name: Home directories
  ssc_homes:
    spec:
      homes_dir: /srv/homes
      archive_dir: /srv/archive/homes
      partners: [leeuwarden, waadhoeke]
      homes:
        - {partner: leeuwarden, name: wbuma, owner: 'SSC\wbuma'}
"""

RETURN = r"""
shares: {description: share folders made (partner, path), type: list, returned: always}
created: {description: partner/name of homes made, type: list, returned: always}
restored:
  {description: partner/name of homes brought back from the archive, type: list, returned: always}
moved:
  description: >-
    partner/name of homes moved from another partner's homes (a merge of partners: a home with
    moved_from in the spec), before anything else is looked at
  type: list
  returned: always
archived: {description: partner/name of homes moved to the archive, type: list, returned: always}
fixed:
  {description: partner/name of homes whose mode or owner was fixed, type: list, returned: always}
held: {description: per partner, why its homes were not archived, type: dict, returned: always}
digest:
  description: fingerprint of the homes and archives before the run
  type: str
  returned: always
digest_after:
  description: the same fingerprint once the run is done (before it, in check mode)
  type: str
  returned: unless the homes changed since the plan
"""

import hashlib
import json
import os
import pwd
import re
import shutil
import sys

ARGUMENTS = {
    "spec": {"type": "dict", "required": True},
    "only_partners": {"type": "list", "elements": "str", "default": None},
    "root": {"type": "str", "default": ""},
    "mode": {"type": "str", "default": "0700"},
    "unknown_owner": {"type": "str", "choices": ["fail", "keep"], "default": "fail"},
    "max_archive": {"type": "int", "default": 50},
    "hold_archive": {"type": "list", "elements": "str", "default": []},
    "allow_archive": {"type": "dict", "default": {}},
    "expect_digest": {"type": "str"},
}


def _owner(owner, name, policy):
    """(uid, gid) of the owner, trying WORKGROUP\\name then name; None when unresolvable."""
    for candidate in (owner, name):
        try:
            entry = pwd.getpwnam(candidate)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    if policy == "keep":
        return None
    raise LookupError(f"owner {owner!r} does not resolve on this host (is winbind running?)")


def _free_name(folder, name):
    """The archive name: the name itself, or name.2, name.3... when an earlier one is there."""
    candidate, n = name, 1
    while os.path.lexists(os.path.join(folder, candidate)):
        n += 1
        candidate = f"{name}.{n}"
    return candidate


def state_digest(root, homes_dir, archive_dir, partners):
    """A fingerprint of every managed home and archived home: name, mode and owner."""
    h = hashlib.sha256()
    for partner in sorted(partners):
        for kind, folder in (("home", homes_dir), ("archive", archive_dir)):
            base = f"{root}{folder}/{partner}"
            try:
                entries = sorted(os.scandir(base), key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                h.update(f"{kind}\0{partner}\0{entry.name}\0{st.st_mode:o}\0{st.st_uid}\0"
                         f"{st.st_gid}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _limit(params, partner):
    """How many homes of this partner the run may archive."""
    allowed = (params.get("allow_archive") or {}).get(partner)
    return params["max_archive"] if allowed is None else int(allowed)


def _move_merged(params, root, only, wanted, result, check_mode):
    """A merge of partners: a person's home moves along from the partner they were with,
    before that partner's leftover homes would be archived. Returns (partner, name) of the
    homes moved away (in check mode: that would be)."""
    moving = set()
    for partner in sorted(set(params["partners"]) & only):
        for name, home in sorted(wanted.get(partner, {}).items()):
            source = home.get("moved_from")
            if not source or source == partner or name in wanted.get(source, {}):
                continue
            old = os.path.join(f"{root}{params['homes_dir']}/{source}", name)
            new = os.path.join(f"{root}{params['homes_dir']}/{partner}", name)
            if os.path.isdir(old) and not os.path.lexists(new):
                result["moved"].append(f"{partner}/{name}")
                moving.add((source, name))
                if not check_mode:
                    os.makedirs(os.path.dirname(new), mode=0o755, exist_ok=True)
                    shutil.move(old, new)
    return moving


def folder_name_problem(spec):
    """What makes the spec unfit to act on: a partner or home name that is not one folder name
    (empty, "." or "..", or with a "/": it would reach outside its partner's folder)."""
    def bad(name):
        return not isinstance(name, str) or name in ("", ".", "..") or "/" in name \
            or "\0" in name

    try:
        names = [*spec["partners"], *(s["partner"] for s in spec.get("shares", []))]
        for home in spec["homes"]:
            names += [home["partner"], home["name"], *([home["moved_from"]]
                                                       if home.get("moved_from") else [])]
    except KeyError as e:
        return f"the spec is not one ssc-infra rendered: no {e}"
    except TypeError as e:
        return f"the spec is not one ssc-infra rendered ({e})"
    unfit = next((name for name in names if bad(name)), None)
    return "" if unfit is None else f"{unfit!r} is not a folder name"


def run(params, check_mode):
    spec = params["spec"]
    params = dict(params, homes=spec["homes"], partners=spec["partners"],
                  homes_dir=spec.get("homes_dir", "/srv/homes"),
                  archive_dir=spec.get("archive_dir", "/srv/archive/homes"))
    root = params["root"].rstrip("/")
    mode = int(params["mode"], 8)
    # None: every partner of the spec; a list (even empty) limits the run to those partners.
    only = set(params["partners"] if params["only_partners"] is None
               else params["only_partners"])
    result = {"created": [], "restored": [], "archived": [], "fixed": [], "held": {},
              "moved": [],
              "errors": [], "shares": [],
              "digest": state_digest(root, params["homes_dir"], params["archive_dir"],
                                     params["partners"])}
    expect = params.get("expect_digest")
    if expect and expect != result["digest"]:
        result["stale"] = ("the home folders changed since the plan was made; nothing was "
                           "changed: make a new plan")
        return result
    for share in spec.get("shares", []):
        if share["partner"] in only and not os.path.isdir(root + share["path"]):
            result["shares"].append({"partner": share["partner"], "path": share["path"]})
            if not check_mode:
                os.makedirs(root + share["path"], mode=0o2770)
    wanted = {}
    for home in params["homes"]:
        wanted.setdefault(home["partner"], {})[home["name"]] = home
    moving = _move_merged(params, root, only, wanted, result, check_mode)
    for partner in sorted(set(params["partners"]) & only):
        base = f"{root}{params['homes_dir']}/{partner}"
        archive = f"{root}{params['archive_dir']}/{partner}"
        homes = wanted.get(partner, {})
        present = set()
        if os.path.isdir(base):
            present = {e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False)}
        elif not check_mode:
            os.makedirs(base, mode=0o755)
        gone = sorted(n for n in present - set(homes) if (partner, n) not in moving)
        if check_mode:  # what the move brings in is there, as far as the rest goes
            present |= {h.partition("/")[2] for h in result["moved"]
                        if h.partition("/")[0] == partner}
        if partner in params["hold_archive"]:
            gone = []  # the account guard held this partner: its leavers stay as they are
        elif len(gone) > _limit(params, partner):
            result["held"][partner] = (
                f"would archive {len(gone)} homes of {partner} (limit "
                f"{_limit(params, partner)}): is the HR export complete? Allow it for this run "
                f"(--allow-disable {partner}={len(gone)}) if it is."
            )
            gone = []
        for name in gone:
            result["archived"].append(f"{partner}/{name}")
            if not check_mode:
                os.makedirs(archive, mode=0o750, exist_ok=True)
                target = os.path.join(archive, _free_name(archive, name))
                shutil.move(os.path.join(base, name), target)
        for name in sorted(homes):
            path = os.path.join(base, name)
            try:
                ids = _owner(homes[name]["owner"], name, params["unknown_owner"])
            except LookupError as e:
                result["errors"].append(f"{partner}/{name}: {e}")
                continue
            if name not in present:
                archived = os.path.join(archive, name)
                if os.path.isdir(archived):
                    result["restored"].append(f"{partner}/{name}")
                    if not check_mode:
                        shutil.move(archived, path)
                else:
                    result["created"].append(f"{partner}/{name}")
                    if not check_mode:
                        os.mkdir(path, mode)
                if check_mode:
                    continue
            if check_mode and not os.path.lexists(path):
                continue  # moved along in this run: its mode and owner are the old home's
            st = os.lstat(path)
            wrong_mode = (st.st_mode & 0o7777) != mode
            wrong_owner = ids is not None and (st.st_uid, st.st_gid) != ids
            if wrong_mode or wrong_owner:
                if name in present:
                    result["fixed"].append(f"{partner}/{name}")
                if not check_mode:
                    os.chmod(path, mode)
                    if wrong_owner:
                        os.chown(path, *ids)
    result["digest_after"] = result["digest"] if check_mode else state_digest(
        root, params["homes_dir"], params["archive_dir"], params["partners"])
    return result


def _diff(result):
    lines = [f"+ share {share['path']}" for share in result["shares"]]
    lines += [f"+ home {h}" for h in result["created"]]
    lines += [f"+ home {h} (from the archive)" for h in result["restored"]]
    lines += [f"> home {h} (moved along in a merge)" for h in result["moved"]]
    lines += [f"- home {h} (to the archive)" for h in result["archived"]]
    lines += [f"~ home {h} (mode or owner)" for h in result["fixed"]]
    return {"prepared": "\n".join(lines)} if lines else {}


def work(args, check_mode, diff):
    """The task's result: what run did, failed when a partner was held or a home failed."""
    problem = folder_name_problem(args["spec"])
    if problem:
        return {"failed": True, "msg": f"home directories: {problem}; nothing was changed"}
    try:
        result = run(args, check_mode)
    except (OSError, ValueError) as e:
        return {"failed": True, "msg": f"home directories: {e}"}
    changed = any(result[k] for k in ("shares", "created", "restored", "archived", "fixed",
                                      "moved"))
    counts = {k: len(result[k]) for k in ("created", "restored", "archived", "fixed", "moved")}
    problems = ([result["stale"]] if "stale" in result else []) + \
        list(result["held"].values()) + result["errors"][:10]
    result.update(changed=changed, diff=_diff(result), counts=counts)
    if problems:
        result.update(failed=True, msg="; ".join(problems))
    return result


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
