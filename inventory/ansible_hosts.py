#!/usr/bin/env python3
"""Ansible inventory script: the workplace hosts of this inventory, grouped by role.

    ansible-inventory -i inventory/ansible_hosts.py --graph
    ansible-playbook -i inventory/ansible_hosts.py playbooks/site.yml -e ssc_bundle=DIR
    (DIR: a bundle `ssc-infra plan` made; the playbook never renders one itself)

Connection settings come from the target named by $SSC_TARGET (default: lab) in $SSC_TARGETS
(default: ./targets.yaml) when that file has an `ansible:` section; otherwise plain SSH to each
host's address. Needs ssc-infra installed (`make test` or `pip install -e .`).
"""

import json
import os
import sys
from datetime import date
from pathlib import Path


def main() -> int:
    try:
        from ssc_infra.run.hostinventory import script_inventory
    except ImportError:
        # Started by a python3 without ssc-infra: use the repository's venv when there is one.
        venv = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
        if venv.exists() and Path(sys.prefix) != venv.parent.parent:
            os.execv(venv, [str(venv), __file__, *sys.argv[1:]])
        print("ansible_hosts.py: ssc-infra is not installed for this python3; run `make test` "
              "and put .venv/bin first on PATH", file=sys.stderr)
        return 1
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print("{}")  # every host's variables are in _meta of --list
        return 0
    print(json.dumps(script_inventory(Path(__file__).resolve().parent, date.today()), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
