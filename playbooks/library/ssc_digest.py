#!/usr/bin/python
"""Ansible module: a managed file's digest as it is now, and a refusal when it is not the one
the reviewed plan saw.

A saved plan records, per host, the digest of every file it would replace; applying it passes
those digests back as I(expect). A file that changed since the plan was made (by hand, or by a
later apply) is refused before it is replaced, so an old plan never rolls a host back.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ssc_digest
short_description: The SHA-256 of a managed file, and a check that it is the reviewed one
description:
  - Returns C(ssc_digest) with the path and the SHA-256 of the file (C(absent) when there is
    none). With I(expect), fails when the file's digest is not that value.
options:
  path: {description: The file on the host (without I(root))., type: str, required: true}
  root: {description: Prefix of every path (a lab's per-host root)., type: str, default: ""}
  expect:
    description: The digest the plan saw; the task fails when the file differs from it.
    type: str
author: ssc-infra
"""

EXAMPLES = r"""
- name: The file as the plan saw it
  ssc_digest:
    path: /etc/samba/smb.conf
    expect: "{{ ssc_expect[inventory_hostname]['/etc/samba/smb.conf'] | default(omit) }}"
"""

RETURN = r"""
ssc_digest:
  description: path and sha256 (or "absent") of the file as it is now.
  type: dict
  returned: always
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule


def digest(path):
    """The file's SHA-256, "absent" when there is no file."""
    if not os.path.lexists(path):
        return "absent"
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "str", "required": True},
            "root": {"type": "str", "default": ""},
            "expect": {"type": "str", "required": False},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        found = digest(module.params["root"].rstrip("/") + path)
    except OSError as e:
        module.fail_json(msg=f"{path}: cannot read it: {e}")
    result = {"changed": False, "ssc_digest": {"path": path, "sha256": found}}
    expect = module.params["expect"]
    if expect and expect != found:
        module.fail_json(msg=f"{path} changed since the plan was made (the plan saw "
                             f"{expect[:12]}, the host has {found[:12]}); the file is left "
                             "as it is: make a new plan", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
