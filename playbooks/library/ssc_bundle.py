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
import sys

# WANT_JSON: Ansible hands this module its arguments as a JSON file and runs it as it is, without
# AnsiballZ's module_utils (half a second of CPU a run; this gate runs before any host is touched).
OPTIONS = {"path": True, "digest": False}  # name -> required


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


def run(params):
    """The module's result for its arguments (a dict, as Ansible passes them)."""
    unknown = sorted(k for k in params if k not in OPTIONS and not k.startswith("_ansible_"))
    if unknown:
        return {"failed": True, "msg": f"unsupported parameters: {', '.join(unknown)}"}
    for name, required in OPTIONS.items():
        value = params.get(name)
        if (required and value is None) or (value is not None and not isinstance(value, str)):
            return {"failed": True, "msg": f"{name} must be a string" +
                    (" and is required" if required else "")}
    path = params["path"]
    try:
        claimed, found = bundle_digest(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"failed": True, "msg": f"{path} is not a bundle made by `ssc-infra plan` ({e}); "
                                       "make a plan and run its bundle"}
    expected = params.get("digest")
    if found != claimed or (expected and found != expected):
        return {"failed": True, "digest": found,
                "msg": f"the bundle in {path} was changed after ssc-infra made it; nothing is "
                       "pushed: make a new plan"}
    return {"changed": False, "digest": found}


def main():
    try:
        with open(sys.argv[1], encoding="utf-8") as handle:
            params = json.load(handle)
    except (IndexError, OSError, ValueError) as e:
        result = {"failed": True, "msg": f"no arguments could be read: {e}"}
    else:
        result = run(params) if isinstance(params, dict) else \
            {"failed": True, "msg": "the arguments are not a mapping"}
    print(json.dumps(result))
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    main()
