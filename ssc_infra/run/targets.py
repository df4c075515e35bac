"""Targets: where the tool connects (lab, acceptance, production), separate from the inventory.

`targets.yaml` names environments; secrets are never in it, only the name of an environment
variable or a file that holds them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ssc_infra.ad.connection import AdSettings
from ssc_infra.core.errors import Problem, SscError
from ssc_infra.core.secrets import Secret
from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.hr.settings import HrSettings
from ssc_infra.m365.settings import GraphSettings
from ssc_infra.netbox.client import NetBoxSettings
from ssc_infra.sources.located import read_text
from ssc_infra.sources.schema import HrEntry, HrSystem

DEFAULT_TARGETS = Path("targets.yaml")
# The only target that may bind in plain text: the local lab, whose DC listens on loopback.
LAB_TARGET = "lab"


class TargetError(SscError):
    """The targets file is missing, malformed, or names a secret that is not there."""


AbsoluteFolder = Annotated[str, Field(max_length=1024, description="an absolute path")]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartnerBind(_Entry):
    """A partner's own bind account: a run for that partner alone binds with it (`delegate`
    gives it rights in the partner's OUs only)."""

    bind_user: str
    bind_password_env: str | None = None
    bind_password_file: str | None = None


class AdTarget(_Entry):
    url: str
    bind_user: str
    base_dn: str
    ca_file: str | None = None
    tls_names: list[str] = Field(default_factory=list)
    starttls: bool = False
    insecure: bool = Field(False, description="allow a plain-text bind: a lab only")
    bind_password_env: str | None = None
    bind_password_file: str | None = None
    # 8: the DC always has a next request waiting while the tool's threads write passwords
    # ahead, audit and encode (with 4, a Samba DC stood idle a tenth of a first apply).
    workers: int = Field(8, ge=1, le=32, description="parallel LDAP connections on apply")
    timeout: float = Field(30.0, gt=0)
    partners: dict[str, PartnerBind] = Field(
        default_factory=dict, description="partner code -> its own bind account, for runs of "
        "that partner alone (`ssc-infra delegate` gives it its rights)")


class AnsibleTarget(_Entry):
    connection: str = Field("ssh", description="ssh for real hosts; local for a lab")
    root: str | None = Field(None, description="lab: every host's files under ROOT/<host>")
    user: str | None = None
    private_key_file: str | None = None
    port: int | None = None
    forks: int = Field(5, ge=1, le=50)
    reload: bool = Field(True, description="reload the daemons after a change")
    unknown_owner: str = Field("fail", pattern="^(fail|keep)$",
                               description="a home's owner that does not resolve: fail or keep")
    host_vars: dict[str, dict[str, Any]] = Field(default_factory=dict)


class NetBoxTarget(_Entry):
    url: str = Field(description="https://netbox.example.org, without /api")
    token_env: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    timeout: float = Field(300.0, gt=0, description="seconds per request (bulk writes are slow)")
    region: str | None = Field(None, description="the region's tenant group (slug); default: "
                               "the one tenant group tagged ssc-infra")


class GraphTarget(_Entry):
    url: str = Field("https://graph.microsoft.com", description="Graph's base URL, without "
                     "/v1.0 (the lab: its Graph emulator)")
    login_url: str = Field("https://login.microsoftonline.com",
                           description="the identity platform's base URL (MSAL's authority)")
    tenant_id: str = Field(description="the tenant of every partner not named in tenants:")
    tenants: dict[str, str] = Field(default_factory=dict,
                                    description="partner code -> its own tenant id")
    client_id: str
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    certificate_file: str | None = Field(None, description="PEM: the app's private key and "
                                         "certificate (instead of a client secret)")
    ca_file: str | None = None
    emulator: bool = Field(False, description="the lab's Graph emulator: never a real tenant")
    timeout: float = Field(60.0, gt=0)
    request_budget: int = Field(100_000, ge=1, description="most Graph requests one run sends")

    def tenant_of(self, partner: str) -> str:
        return self.tenants.get(partner, self.tenant_id)


class HrPartner(_Entry):
    """Where one partner's HR secrets are: its AFAS token, its Visma Raet client, or the
    bearer token its HR system pushes SCIM to `hr serve` with."""

    token_env: str | None = None
    token_file: str | None = None
    client_id_env: str | None = None
    client_id_file: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    scim_token_env: str | None = None
    scim_token_file: str | None = None


class HrTarget(_Entry):
    """The HR systems' servers (the partner file says which system and environment or
    tenant) and, per partner, where its secrets are."""

    afas_url: str = Field("https://{environment}.rest.afas.online",
                          description="AFAS Profit's base URL; {environment} is the partner's "
                          "environment number (the lab: its emulator)")
    raet_token_url: str = Field("https://connect.visma.com/connect/token",
                                description="Visma's token endpoint (client credentials)")
    raet_api_url: str = Field("https://api.youforce.com", description="the IAM API's base")
    ca_file: str | None = None
    emulator: bool = Field(False, description="the lab's HR emulators: never a real system")
    timeout: float = Field(30.0, gt=0)
    page_size: int = Field(500, ge=1, le=10_000)
    drop_folders: list[AbsoluteFolder] = Field(
        default_factory=list, max_length=100,
        description="absolute folders the `csv` system's export files may be read from (the "
        "HR systems' SFTP drop folders): a partner file naming a file elsewhere is refused")
    partners: dict[str, HrPartner] = Field(default_factory=dict,
                                           description="partner code -> where its secrets are")

    @field_validator("drop_folders")
    @classmethod
    def _absolute_and_not_the_root(cls, folders: list[str]) -> list[str]:
        for folder in folders:
            if not folder.startswith("/") or any(ord(c) < 32 for c in folder):
                raise ValueError(f"{folder!r} is not an absolute path on one line: write the "
                                 "folder in full, e.g. /srv/sftp/ameland")
            if os.path.realpath(folder) == "/":
                raise ValueError("/ is no drop folder: it would let a partner file name any "
                                 "file the tool can read; name the HR systems' own folders")
        return folders


class Target(_Entry):
    ad: AdTarget | None = None
    ansible: AnsibleTarget | None = None
    netbox: NetBoxTarget | None = None
    source: str = Field("files", pattern="^(files|netbox)$",
                        description="where the inventory is read: files, or netbox")
    graph: GraphTarget | None = None
    hr: HrTarget | None = None


TARGETS_MAX_BYTES = 1 << 20  # a targets file names a few targets


def load_target(path: Path, name: str) -> Target:
    """The target `name` from the targets file; TargetError says what to do when it fails."""
    missing = TargetError(
        f"no targets file at {path}: run `ssc-infra lab up` for a local lab target, or "
        "write one (see docs/targets.md)")
    if not path.exists():
        raise missing
    try:
        text = read_text(path, str(path), TARGETS_MAX_BYTES, "save it as UTF-8")
    except FileNotFoundError:
        raise missing from None
    if isinstance(text, Problem):  # a FIFO, a directory, too large, not UTF-8
        raise TargetError(f"{path}: {text.message}; {text.hint}")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise TargetError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise TargetError(f"{path}: not a mapping of targets (`NAME:` and its settings) but "
                          f"a {type(data).__name__}; see docs/targets.md")
    if name not in data:
        known = ", ".join(sorted(data)) or "none"
        raise TargetError(f"{path}: no target {name!r} (known: {known}); pass --target NAME")
    try:
        target = Target.model_validate(data[name])
    except ValidationError as e:
        problems = []
        for error in e.errors():
            where = ".".join(str(p) for p in error["loc"])
            what = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{where}: {what}")
        raise TargetError(f"{path}: target {name!r}: " + "; ".join(problems)) from e
    if target.ad is not None:
        check_insecure(target.ad, name, where=f"{path}: ")
    return target


def check_insecure(ad: AdTarget, name: str, where: str = "") -> None:
    """Refuse `insecure: true` unless the target is the lab and its DC is on loopback.

    A plain-text bind sends the service account's password in clear to whoever is on the path;
    only the local lab DC, reached over the loopback interface, may have that.

    Args:
        ad: the target's `ad:` section.
        name: the target's name (only `lab` may be insecure).
        where: the targets file, prefixed to the message.
    """
    if not ad.insecure:
        return
    fix = ("remove `insecure: true` and use ldaps://HOST:636, or ldap://HOST:389 with "
           "`starttls: true`, with ca_file")
    if name != LAB_TARGET:
        raise TargetError(
            f"{where}target {name!r}: `insecure: true` would send the bind password in clear "
            f"to {ad.url}; only the `{LAB_TARGET}` target on a loopback address may use it: {fix}"
        )
    if not _is_loopback(ad.url):
        raise TargetError(
            f"{where}target {name!r}: `insecure: true` is allowed only with a loopback URL "
            f"(ldap://127.x.y.z or ldap://[::1]), not {ad.url}: the bind password would cross "
            f"the network in clear; {fix}"
        )


def _is_loopback(url: str) -> bool:
    try:
        host = urlparse(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name could resolve anywhere: only addresses prove loopback


def ad_settings(target: Target, name: str, partner: str = "") -> AdSettings:
    """Connection settings with the password read from its environment variable or file;
    with `partner`, that partner's own bind account when the target gives one."""
    ad = target.ad
    if ad is None:
        raise TargetError(f"target {name!r} has no `ad:` section")
    check_insecure(ad, name)
    own = ad.partners.get(partner) if partner else None
    if own is not None:
        user, password = own.bind_user, _read_secret(
            own.bind_password_env, own.bind_password_file, name, f"ad.partners.{partner}",
            "bind_password")
    else:
        user, password = ad.bind_user, _secret(ad, name)
    return AdSettings(
        url=ad.url, bind_user=user, password=password, base_dn=ad.base_dn,
        ca_file=ad.ca_file, tls_names=tuple(ad.tls_names), starttls=ad.starttls,
        insecure=ad.insecure, timeout=ad.timeout,
    )


def partner_bind(target: Target, partners: tuple[str, ...]) -> str:
    """The one partner whose own bind account a run of `partners` uses, "" for none."""
    if target.ad is None or len(partners) != 1:
        return ""
    return partners[0] if partners[0] in target.ad.partners else ""


def ansible_settings(target: Target) -> AnsibleSettings | None:
    """How to reach the workplace hosts; None when the target has no `ansible:` section."""
    a = target.ansible
    if a is None:
        return None
    return AnsibleSettings(
        connection=a.connection, root=Path(a.root).expanduser() if a.root else None,
        user=a.user, private_key_file=a.private_key_file, port=a.port, forks=a.forks,
        reload=a.reload, unknown_owner=a.unknown_owner, host_vars=dict(a.host_vars),
    )


def netbox_settings(target: Target, name: str) -> NetBoxSettings:
    """NetBox's URL and token (from its environment variable or file)."""
    nb = target.netbox
    if nb is None:
        raise TargetError(f"target {name!r} has no `netbox:` section: add url and token_env "
                          "(or token_file), or run `ssc-infra lab up --with-netbox`")
    if not nb.url.startswith("https://") and not _is_loopback(nb.url):
        raise TargetError(f"target {name!r}: netbox url {nb.url} is not https: the token would "
                          "cross the network in clear (plain http is for a loopback lab only)")
    token = _read_secret(nb.token_env, nb.token_file, name, "netbox", "token")
    return NetBoxSettings(nb.url, token, nb.ca_file, nb.timeout)


def graph_settings(target: Target, name: str) -> dict[str, GraphSettings]:
    """Graph's settings per tenant id (a partner's tenant: `GraphTarget.tenant_of`)."""
    g = target.graph
    if g is None:
        raise TargetError(f"target {name!r} has no `graph:` section")
    for url in (g.url, g.login_url):
        if not url.startswith("https://"):
            raise TargetError(f"target {name!r}: graph url {url} is not https: the client "
                              "secret and the tokens would cross the network in clear")
    if g.certificate_file and (g.client_secret_env or g.client_secret_file):
        raise TargetError(f"target {name!r}: graph has both certificate_file and a client "
                          "secret: give one (a certificate is the safer choice)")
    secret = None if g.certificate_file else _read_secret(
        g.client_secret_env, g.client_secret_file, name, "graph", "client_secret")
    return {tenant: GraphSettings(tenant_id=tenant, client_id=g.client_id, secret=secret,
                                  certificate_file=g.certificate_file, graph_url=g.url,
                                  login_url=g.login_url, ca_file=g.ca_file, timeout=g.timeout,
                                  request_budget=g.request_budget)
            for tenant in sorted({g.tenant_id, *g.tenants.values()})}


def hr_settings(target: Target, name: str, partner: str, entry: HrEntry) -> HrSettings:
    """Where PARTNER's HR system is and its secrets, read now (an AFAS or Visma Raet entry)."""
    hr = target.hr
    if hr is None:
        raise TargetError(f"target {name!r} has no `hr:` section: add one (docs/hr.md) "
                          "to pull people from an HR system")
    theirs = hr.partners.get(partner)
    if theirs is None:
        raise TargetError(f"target {name!r}: hr.partners has no entry for {partner}: name "
                          "the environment variables (or files) of its secrets there")
    section = f"hr.partners.{partner}"
    if entry.system is HrSystem.AFAS:
        url = hr.afas_url.replace("{environment}", entry.environment or "")
        token = _read_secret(theirs.token_env, theirs.token_file, name, section, "token")
        settings = HrSettings(url, token=token)
    else:
        url = hr.raet_api_url
        settings = HrSettings(
            url, token_url=hr.raet_token_url,
            client_id=_read_secret(theirs.client_id_env, theirs.client_id_file, name, section,
                                   "client_id"),
            client_secret=_read_secret(theirs.client_secret_env, theirs.client_secret_file,
                                       name, section, "client_secret"))
    for address in (url, settings.token_url):
        if address and not address.startswith("https://"):
            raise TargetError(f"target {name!r}: hr url {address} is not https: the token "
                              "and the people's data would cross the network in clear")
    return dataclasses.replace(settings, ca_file=hr.ca_file, timeout=hr.timeout,
                               page_size=hr.page_size)


def scim_tokens(target: Target, name: str, partners: Iterable[str]) -> dict[str, Secret]:
    """The bearer token of each of PARTNERS (those whose people are pushed by SCIM), read now
    from `hr.partners.<code>.scim_token_env` or `scim_token_file`."""
    hr = target.hr
    if hr is None:
        raise TargetError(f"target {name!r} has no `hr:` section: name each SCIM partner's "
                          "token under hr.partners.<code>.scim_token_env (or _file)")
    tokens = {}
    for code in partners:
        theirs = hr.partners.get(code)
        if theirs is None:
            raise TargetError(f"target {name!r}: hr.partners has no entry for {code}: name "
                              "the environment variable (or file) of its SCIM token there")
        tokens[code] = _read_secret(theirs.scim_token_env, theirs.scim_token_file, name,
                                    f"hr.partners.{code}", "scim_token")
    return tokens


def _secret(ad: AdTarget, name: str) -> Secret:
    return _read_secret(ad.bind_password_env, ad.bind_password_file, name, "ad", "bind_password")


def _read_secret(env: str | None, file: str | None, name: str, section: str,
                 what: str) -> Secret:
    if env:
        value = os.environ.get(env)
        if not value:
            raise TargetError(
                f"target {name!r}: the environment variable {env} (named by {what}_env) is "
                "not set"
            )
        return Secret(value)
    if file:
        path = Path(file).expanduser()
        try:
            return Secret(path.read_text(encoding="utf-8").strip())
        except OSError as e:
            raise TargetError(
                f"target {name!r}: cannot read {what}_file {path}: {e.strerror}"
            ) from e
    raise TargetError(f"target {name!r}: set {what}_env or {what}_file under {section}:")


def write_target(path: Path, name: str, entry: dict[str, Any], *, merge: bool = False) -> None:
    """Add or replace one target, keeping the others (used by `lab up`); with `merge` only
    ENTRY's keys of that target are replaced."""
    data: dict[str, Any] = {}
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    old = data.get(name)
    data[name] = {**old, **entry} if merge and isinstance(old, dict) else entry
    path.write_text(
        "# Where ssc-infra connects. Secrets are never here: only where to find them.\n"
        + yaml.safe_dump(data, sort_keys=True),
        encoding="utf-8",
    )
