"""The files that ship inside the package: the Jinja2 templates, the Ansible playbooks and the
drift report's page.

In a checkout they live at the top of the repository (`templates/`, `playbooks/`), where
ansible-playbook, ansible-lint and AWX find them; pyproject.toml maps them into the package as
`ssc_infra.templates` and `ssc_infra.playbooks` (package-dir), so the wheel carries them and an
editable install sees the checkout's. The code finds them with `importlib.resources`, never by
a path relative to a source file, so an installed wheel finds them as a checkout does. A tool
that needs a real folder or file (ansible-runner, the config checker run as a script) gets one
from `packaged_path` for as long as it uses it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ssc_infra.core.errors import SscError

PACKAGE = "ssc_infra"
TEMPLATES = "templates"  # the Jinja2 template of every host file
PLAYBOOKS = "playbooks"  # site.yml with its roles/, library/, files/ and group_vars/
CHECKER = "playbooks/files/ssc-check"  # the config checker the roles install on the hosts
REPORT_TEMPLATES = "templates/report"  # the nightly drift report's page and its stylesheet
SHIPPED = (TEMPLATES, PLAYBOOKS)  # the top folders, each the package ssc_infra.<folder>


def package_of(rel: str) -> tuple[str, str]:
    """The package that holds a shipped file or folder, and its path inside that package:
    `templates/report` -> ("ssc_infra.templates", "report"), `templates` -> (.., ".")."""
    top, _, rest = rel.partition("/")
    if top not in SHIPPED:
        raise ValueError(f"{rel}: not in a folder that ships with {PACKAGE} ({', '.join(SHIPPED)})")
    return f"{PACKAGE}.{top}", rest or "."


def packaged(rel: str) -> Traversable:
    """A file or folder that ships with the package, by its path (`playbooks/site.yml`)."""
    package, inside = package_of(rel)
    try:
        found = resources.files(package)
    except ModuleNotFoundError as e:
        raise SscError(f"{rel} is missing: the package {package} is not installed ({e}); the "
                       "installation is incomplete, reinstall ssc-infra") from e
    if not found.joinpath("__init__.py").is_file():
        # A namespace package: in a checkout, a folder ssc_infra/<top>/ left from before the
        # move to the top level (say, only a __pycache__) takes the place of the real one.
        top = package.rpartition(".")[2]
        raise SscError(f"{rel} is missing: {package} is not the package that ships with "
                       f"ssc-infra ({found}); remove a leftover folder ssc_infra/{top}/ of a "
                       "checkout, or reinstall ssc-infra")
    for part in inside.split("/"):
        if part != ".":
            found = found / part
    return found


def packaged_path(rel: str) -> AbstractContextManager[Path]:
    """The packaged file or folder as a path on disk while the context is open."""
    return resources.as_file(packaged(rel))
