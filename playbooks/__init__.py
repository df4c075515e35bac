"""The Ansible playbooks, as the package `ssc_infra.playbooks` (pyproject.toml maps it here).

No code: this file only makes the folder a package, so that the wheel carries it and
`importlib.resources.files("ssc_infra.playbooks")` finds it, installed or in a checkout.
Ansible does not look at it.
"""
