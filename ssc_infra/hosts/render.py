"""Workplaces -> the files of every host: Jinja2 with StrictUndefined, the templates that ship
in the package (templates/ of the repository, `ssc_infra.templates` once installed), or those
of the folder $SSC_TEMPLATES names.

A bundle is a folder with one subfolder per host, holding each file at the path it gets on the
host (`fs01/etc/samba/smb.conf`), plus `fs01/.ssc/homes.json`: the home directories the
fileserver role makes in one module call. Ansible pushes exactly these files; `ssc-infra render`
writes them so that an engineer can read or diff them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2

from ssc_infra.core.bulk import no_cycle_collection
from ssc_infra.core.errors import SscError
from ssc_infra.core.escape import FILTERS, UnsafeValue, finalize
from ssc_infra.core.model import HostRole, Region
from ssc_infra.core.packaged import TEMPLATES, package_of
from ssc_infra.core.workplaces import ARCHIVE_DIR, HOMES_DIR, IDMAP_RANGE, Workplaces
from ssc_infra.state.folder import write_private

TEMPLATES_ENV = "SSC_TEMPLATES"  # a folder of templates to use instead of the packaged ones
HOMES_DATA = ".ssc/homes.json"
MANIFEST = "manifest.json"


class RenderError(SscError):
    """A template failed: names the template, its line and what was missing or wrong."""


@dataclass(frozen=True, slots=True)
class RoleFile:
    template: str
    path: str  # on the host, without the lab's root prefix
    check: tuple[str, ...]  # the role's `validate:` command before the file; ssc-check is ours


ROLE_FILES: dict[HostRole, tuple[RoleFile, ...]] = {
    HostRole.FILESERVER: (RoleFile("smb.conf.j2", "etc/samba/smb.conf", ("ssc-check", "samba")),),
    HostRole.VPN_GATEWAY: (RoleFile("wg0.conf.j2", "etc/wireguard/wg0.conf",
                                    ("ssc-check", "wireguard")),),
    HostRole.DHCP: (RoleFile("kea-dhcp4.conf.j2", "etc/kea/kea-dhcp4.conf",
                             ("kea-dhcp4", "-t")),),
    HostRole.RADIUS: (RoleFile("radius-authorize.j2",
                               "etc/freeradius/3.0/mods-config/files/authorize",
                               ("ssc-check", "radius")),),
    HostRole.VDI_BROKER: (RoleFile("vdi-assignments.json.j2", "etc/ssc-vdi/assignments.json",
                                   ("ssc-check", "vdi")),),
}


def environment(templates: Path | None = None) -> jinja2.Environment:
    """The one Jinja2 environment: a missing variable is an error, never an empty string.

    Templates write every value through a filter of its format (`ssc_infra.core.escape`); what a
    filter refuses stops the render.

    Args:
        templates: a folder of templates; default $SSC_TEMPLATES when it is set, else the
            templates that ship in the package.
    """
    folder = templates or os.environ.get(TEMPLATES_ENV)
    try:
        loader: jinja2.BaseLoader = (jinja2.FileSystemLoader(folder) if folder
                                     else jinja2.PackageLoader(*package_of(TEMPLATES)))
    except (ValueError, ImportError) as e:  # an install without its package data
        raise RenderError(f"{e} (the installation is incomplete: reinstall ssc-infra)") from e
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # config files, not HTML: the filters escape per format
        finalize=finalize,
    )
    env.filters.update(FILTERS)
    return env


def context(region: Region, workplaces: Workplaces) -> dict[str, Any]:
    """The variables every template sees."""
    return {
        "region": {"code": region.code, "name": region.name},
        "fs": workplaces.fileserver,
        "vpn": workplaces.vpn,
        "dhcp": workplaces.dhcp,
        "radius": workplaces.radius,
        "vdi": workplaces.vdi,
        "homes_dir": HOMES_DIR,
        "idmap_range": IDMAP_RANGE,
    }


def render_template(env: jinja2.Environment, name: str, variables: dict[str, Any],
                    target: str = "") -> str:
    """One template rendered; RenderError names template:line and the cause.

    Args:
        target: the file it becomes, as `host:/path`, for the message of a refused value.
    """
    try:
        return env.get_template(name).render(variables)
    except UnsafeValue as e:
        line = _template_line(name)
        where = f"{target} (templates/{name}:{line})" if target else f"templates/{name}:{line}"
        raise RenderError(
            f"{where}: {e}; nothing was rendered: correct the value in the inventory "
            "and run again") from e
    except jinja2.TemplateSyntaxError as e:
        raise RenderError(f"templates/{e.name or name}:{e.lineno}: {e.message}") from e
    except jinja2.TemplateNotFound as e:
        searched = (", ".join(env.loader.searchpath)
                    if isinstance(env.loader, jinja2.FileSystemLoader)
                    else f"the templates of the {package_of(TEMPLATES)[0]} package")
        raise RenderError(f"template {e.name} not found in {searched}") from e
    except jinja2.UndefinedError as e:
        line = _template_line(name)
        raise RenderError(
            f"templates/{name}:{line}: {e.message} (a variable the template uses is not "
            "provided: check its spelling in the template)"
        ) from e


def _template_line(name: str) -> int | str:
    """The template line of the error being handled; Jinja2 rewrites the frames for it."""
    for frame in reversed(traceback.extract_tb(sys.exc_info()[2])):
        if frame.filename.endswith(name) and frame.lineno is not None:
            return frame.lineno
    return "?"


@dataclass(frozen=True, slots=True)
class HostFiles:
    """Per host name, per path on the host: the file's text."""

    files: dict[str, dict[str, str]]

    def digest(self) -> str:
        """A fingerprint of every file: a saved plan applies only the bundle it was made with."""
        h = hashlib.sha256()
        for host in sorted(self.files):
            for path in sorted(self.files[host]):
                h.update(f"{host}/{path}\0".encode())
                h.update(self.files[host][path].encode())
        return h.hexdigest()


@no_cycle_collection()  # a big region: see core/bulk.py
def render_host_files(region: Region, workplaces: Workplaces,
                      env: jinja2.Environment | None = None,
                      hosts: tuple[str, ...] = ()) -> HostFiles:
    """Every file of every host (or of `hosts` only)."""
    env = env or environment()
    variables = context(region, workplaces)
    rendered: dict[str, str] = {}  # a template renders once, however many hosts need it
    files: dict[str, dict[str, str]] = {}
    for host in region.hosts:
        if hosts and host.name not in hosts:
            continue
        host_files: dict[str, str] = {}
        for role in host.roles:
            for f in ROLE_FILES[role]:
                if f.template not in rendered:
                    rendered[f.template] = render_template(env, f.template, variables,
                                                           f"{host.name}:/{f.path}")
                host_files[f.path] = rendered[f.template]
            if role is HostRole.FILESERVER:
                host_files[HOMES_DATA] = homes_data(workplaces)
        files[host.name] = host_files
    return HostFiles(files)


def homes_data(workplaces: Workplaces) -> str:
    """The input of the `ssc_homes` module: which homes exist, for whom, and where."""
    fs = workplaces.fileserver
    return json.dumps({
        "homes_dir": HOMES_DIR,
        "archive_dir": ARCHIVE_DIR,
        "partners": list(fs.partners),
        "shares": [{"partner": s.partner, "path": s.path} for s in fs.shares],
        "homes": [{k: v for k, v in asdict(h).items() if v} for h in fs.homes],
    }, indent=0) + "\n"


def write_host_files(bundle: HostFiles, out: Path) -> Path:
    """Write the bundle under `out` (one folder per host) with a manifest; returns `out`.

    Files are written next to their final place and renamed over it, so a reader never sees
    half a file; they hold people's names, so they are 0600 in folders made 0700 (the roles
    set each file's mode on the host).
    """
    for host, host_files in bundle.files.items():
        for path, text in host_files.items():
            write_private(out / host / path, text)
    manifest = {"digest": bundle.digest(),
                "hosts": {h: sorted(f) for h, f in bundle.files.items()}}
    write_private(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out


def bundle_digest(out: Path) -> str | None:
    """The digest a written bundle's manifest records; None when there is none."""
    try:
        return str(json.loads((out / MANIFEST).read_text(encoding="utf-8"))["digest"])
    except (OSError, ValueError, KeyError):
        return None
