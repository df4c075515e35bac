#!/usr/bin/python
"""Ansible module: refuse a bundle that is not exactly what `ssc-infra plan` rendered.

The playbook never renders host files itself (that needs the directory's names and the kept
addresses, which only ssc-infra has): it runs a bundle that `ssc-infra plan` made, and checks
first that every file is the one the bundle's manifest fingerprints.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ssc_bundle
short_description: Check that a host-file bundle is whole and unchanged
description:
  - Recomputes the digest of every file the bundle's manifest.json lists and fails when it
    differs from the manifest's, when a file is missing or lies outside the bundle.
options:
  path: {description: The bundle folder (ssc_bundle)., type: str, required: true}
  digest: {description: The digest the reviewed plan names (optional)., type: str}
author: ssc-infra
"""

EXAMPLES = r"""
- name: The bundle is the one ssc-infra plan made
  ssc_bundle:
    path: "{{ ssc_bundle }}"
"""

RETURN = r"""
digest: {description: the bundle's digest, type: str, returned: success}
"""

import hashlib
import json
import os
import re
import sys

ARGUMENTS = {"path": {"type": "str", "required": True}, "digest": {"type": "str"}}


def bundle_digest(path):
    """The digest of the files the manifest lists, as ssc-infra computes it; raises ValueError."""
    with open(os.path.join(path, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    root = os.path.realpath(path)
    h = hashlib.sha256()
    for host in sorted(manifest["hosts"]):
        for name in sorted(manifest["hosts"][host]):
            target = os.path.realpath(os.path.join(path, host, name))
            if not target.startswith(root + os.sep):
                raise ValueError(f"{host}/{name} lies outside the bundle")
            h.update(f"{host}/{name}\0".encode())
            with open(target, encoding="utf-8") as handle:
                h.update(handle.read().encode())
    return manifest["digest"], h.hexdigest()


def run(args, check_mode, diff):
    """The gate's result for checked arguments (it only reads: the same in check mode)."""
    path = args["path"]
    try:
        claimed, found = bundle_digest(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"failed": True, "msg": f"{path} is not a bundle made by `ssc-infra plan` ({e}); "
                                       "make a plan and run its bundle"}
    expected = args["digest"]
    if found != claimed or (expected and found != expected):
        return {"failed": True, "digest": found,
                "msg": f"the bundle in {path} was changed after ssc-infra made it; nothing is "
                       "pushed: make a new plan"}
    return {"changed": False, "digest": found}


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
    answer(ARGUMENTS, run)
