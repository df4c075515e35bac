"""The workplace hosts as a dynamic Ansible inventory (`inventory/ansible_hosts.py --list`).

It joins the inventory (which hosts, which roles) and a target (how to reach them); kept apart
from `hosts/ansible.py` so that the backend does not reach back up to the targets.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.hosts.ansible import AnsibleSettings, host_inventory
from ssc_infra.run.targets import ansible_settings, load_target
from ssc_infra.sources.files import load


def script_inventory(inventory: Path, today: date) -> dict[str, Any]:
    """What `inventory/ansible_hosts.py --list` prints: the dynamic-inventory JSON format."""
    region = load(inventory, today)
    settings = AnsibleSettings()
    targets = Path(os.environ.get("SSC_TARGETS", "targets.yaml"))
    if targets.exists():
        found = ansible_settings(load_target(targets, os.environ.get("SSC_TARGET", "lab")))
        settings = found or settings
    tree = host_inventory(region, settings)["all"]
    groups: dict[str, Any] = {role: {"hosts": sorted(members["hosts"])}
                              for role, members in tree["children"].items()}
    groups["all"] = {"children": sorted(tree["children"]), "vars": tree["vars"]}
    return {**groups, "_meta": {"hostvars": tree["hosts"]}}
