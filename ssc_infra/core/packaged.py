"""The files that ship inside the package: the Jinja2 templates, the Ansible playbooks and the
drift report's page.

They are package data (pyproject.toml) found with `importlib.resources`, never by a path
relative to a source file, so an installed wheel finds them as a checkout does. A tool that
needs a real folder or file (ansible-runner, the config checker run as a script) gets one from
`packaged_path` for as long as it uses it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = "ssc_infra"
TEMPLATES = "templates"  # the Jinja2 template of every host file
PLAYBOOKS = "playbooks"  # site.yml with its roles/, library/, files/ and group_vars/
CHECKER = "playbooks/files/ssc-check"  # the config checker the roles install on the hosts
REPORT_TEMPLATES = "report/templates"  # the nightly drift report's page and its stylesheet


def packaged(rel: str) -> Traversable:
    """A file or folder of the package, by its path inside it (`playbooks/site.yml`)."""
    found = resources.files(PACKAGE)
    for part in rel.split("/"):
        found = found / part
    return found


def packaged_path(rel: str) -> AbstractContextManager[Path]:
    """The packaged file or folder as a path on disk while the context is open."""
    return resources.as_file(packaged(rel))
