"""The handover bundle of a partner that leaves: everything of it, written before anything of
it is taken away, and checked again whenever someone asks (`ssc-infra bundle verify`).

The folder (0700, files 0600: it holds personal data):

    manifest.json              format, partner, region, when, counts; every file's SHA-256
    people.csv / .json         the HR export as the tool last read it
    accounts.json / .csv       every AD account of the partner: its attributes, groups, status
    accounts.ldif              the same accounts as LDIF (RFC 2849), for the receiving directory
    groups.json / .csv         the partner's groups and their members
    m365/users.json / .csv     its Microsoft 365 users and their licences (a target with Graph)
    m365/groups.json           its Microsoft 365 groups and their members
    devices.json / .csv        laptops and thin clients
    addresses.json / .csv      the VPN addresses and DHCP reservations handed out to them
    configs/<host>/<path>      the partner's part of every configuration the hosts hold
    homes.json / .csv          the home folders: who, where, how many files, how many bytes

Building the files is pure (`bundle_files`); `write_handover_bundle` writes them whole or not
at all; `check_handover_bundle` re-reads a folder against its manifest.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssc_infra.core.dn import dn_key
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import FOLDER_PATH_PATTERN, Partner
from ssc_infra.m365.tenant import TenantState
from ssc_infra.sources.located import read_regular
from ssc_infra.state.folder import csv_row

FORMAT = "ssc-infra/handover/v1"
MANIFEST = "manifest.json"
BUNDLE_FILE_MAX = 1 << 30  # a partner's people, accounts and audit lines: far less
# Never in a bundle, whatever a directory lets the bind account read.
SECRET_ATTRIBUTES = frozenset(a.lower() for a in (
    "unicodePwd", "dBCSPwd", "ntPwdHistory", "lmPwdHistory", "supplementalCredentials",
    "userPassword", "msDS-ManagedPassword", "msFVE-RecoveryPassword", "msLAPS-Password",
    "ms-Mcs-AdmPwd", "msLAPS-EncryptedPassword", "priorValue", "currentValue", "trustAuthIncoming",
    "trustAuthOutgoing"))
_GUID_ATTRIBUTES = frozenset({"objectguid", "msexchmailboxguid", "ms-ds-consistencyguid"})
_UAC_DISABLED = 0x0002


_FOLDER_PATH = re.compile(FOLDER_PATH_PATTERN.removeprefix("^").removesuffix("$"))


class BundleError(SscError):
    """A handover bundle cannot be written or read."""


@dataclass(frozen=True)
class Entry:
    """One directory object as read: its DN and every attribute's raw values."""

    dn: str
    attributes: Mapping[str, Sequence[bytes]]

    def text(self, name: str) -> str:
        """The first value of an attribute as text ("" when absent)."""
        for key, values in self.attributes.items():
            if key.lower() == name.lower() and values:
                return _text(key, values[0])
        return ""

    def texts(self, name: str) -> list[str]:
        for key, values in self.attributes.items():
            if key.lower() == name.lower():
                return [_text(key, v) for v in values]
        return []


@dataclass(frozen=True)
class Handover:
    """What a bundle holds, read from every system before the partner is offboarded."""

    partner: Partner
    region: str
    target: str
    created: str  # ISO time, UTC
    accounts: Sequence[Entry]
    groups: Sequence[Entry]
    cloud: TenantState | None = None
    addresses: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # kind -> tag -> ip
    configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # host -> path -> text
    homes: Sequence[Mapping[str, Any]] | None = None  # None: the file server was not read
    notes: Sequence[str] = ()  # what the bundle could not hold, and why


# -- values -------------------------------------------------------------------------------


def _text(name: str, value: bytes) -> str:
    """A raw LDAP value as text: GUIDs and SIDs as people write them, other binary data as
    "base64:..."; UTF-8 text as it is."""
    lower = name.lower()
    if lower in _GUID_ATTRIBUTES and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    if lower in ("objectsid", "sidhistory"):
        return _sid(value)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode("ascii")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return "base64:" + base64.b64encode(value).decode("ascii")
    return text


def _sid(value: bytes) -> str:
    if len(value) < 8:
        return "base64:" + base64.b64encode(value).decode("ascii")
    count = value[1]
    authority = int.from_bytes(value[2:8], "big")
    subs = [int.from_bytes(value[8 + 4 * i:12 + 4 * i], "little") for i in range(count)
            if 12 + 4 * i <= len(value)]
    return "S-" + "-".join(str(n) for n in (value[0], authority, *subs))


def exported(entry: Entry) -> dict[str, Any]:
    """An entry as JSON data: DN and every attribute (secrets never), values as text."""
    attributes = {name: [_text(name, v) for v in values]
                  for name, values in sorted(entry.attributes.items(), key=lambda i: i[0].lower())
                  if name.lower() not in SECRET_ATTRIBUTES}
    return {"dn": entry.dn, "attributes": attributes}


def ldif(entries: Iterable[Entry]) -> str:
    """The entries as LDIF content records (RFC 2849): a value that is not safe as plain text
    (non-ASCII, a line break, a leading space, colon or '<') is base64 ("name:: ...")."""
    out = ["version: 1", ""]
    for entry in entries:
        out.append(_ldif_line("dn", entry.dn.encode("utf-8")))
        for name, values in sorted(entry.attributes.items(), key=lambda i: i[0].lower()):
            if name.lower() in SECRET_ATTRIBUTES:
                continue
            out.extend(_ldif_line(name, value) for value in values)
        out.append("")
    return "\n".join(out)


def _ldif_line(name: str, value: bytes) -> str:
    safe = bool(value) and value[0] not in b" :<" and value[-1:] != b" " and all(
        32 <= b < 127 for b in value)
    if safe or not value:
        line = f"{name}: {value.decode('ascii')}"
    else:
        line = f"{name}:: {base64.b64encode(value).decode('ascii')}"
    # RFC 2849: lines of at most 76 characters; a continuation starts with one space.
    parts = [line[:76]] + [line[i:i + 75] for i in range(76, len(line), 75)]
    return "\n ".join(parts)


# -- the files ----------------------------------------------------------------------------


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(csv_row(row))
    return buffer.getvalue().encode("utf-8")


PEOPLE_HEADER = ("employee_id", "given_name", "infix", "surname", "department", "job_title",
                 "site", "workplace", "start_date", "end_date")
ACCOUNT_HEADER = ("employee_id", "sam", "upn", "display_name", "given_name", "surname", "mail",
                  "department", "title", "enabled", "parked", "groups", "object_guid", "dn",
                  "when_created", "when_changed")
DEVICE_HEADER = ("asset_tag", "kind", "employee_id", "site", "mac", "wg_public_key")


def _people(partner: Partner) -> tuple[list[list[str]], list[dict[str, str]]]:
    rows = [[p.employee_id, p.given_name, p.infix, p.surname, p.department, p.job_title,
             p.site, p.workplace.value, p.start_date.isoformat(),
             p.end_date.isoformat() if p.end_date else ""] for p in partner.people]
    return rows, [dict(zip(PEOPLE_HEADER, r, strict=True)) for r in rows]


def _accounts(accounts: Sequence[Entry], groups: Sequence[Entry],
              leavers_marker: str) -> tuple[list[list[str]], list[dict[str, Any]]]:
    names = {dn_key(g.dn): g.text("sAMAccountName") or g.text("cn") for g in groups}
    member_of: dict[str, list[str]] = {}
    for g in groups:
        for member in g.texts("member"):
            member_of.setdefault(dn_key(member), []).append(names[dn_key(g.dn)])
    rows, data = [], []
    for a in accounts:
        uac = a.text("userAccountControl")
        enabled = not (int(uac) & _UAC_DISABLED) if uac.isdigit() else True
        own = sorted(set(member_of.get(dn_key(a.dn), [])) |
                     {n for n in (_cn(m) for m in a.texts("memberOf")) if n})
        row = [a.text("employeeID"), a.text("sAMAccountName"), a.text("userPrincipalName"),
               a.text("displayName"), a.text("givenName"), a.text("sn"), a.text("mail"),
               a.text("department"), a.text("title"), "yes" if enabled else "no",
               "yes" if leavers_marker in dn_key(a.dn) else "no", ";".join(own),
               a.text("objectGUID"), a.dn, a.text("whenCreated"), a.text("whenChanged")]
        rows.append(row)
        data.append({**exported(a), "enabled": enabled, "groups": own,
                     "parked": row[10] == "yes"})
    return rows, data


def _cn(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[1] if first.lower().startswith("cn=") and "=" in first else ""


def _cloud(state: TenantState) -> tuple[list[list[str]], list[dict[str, Any]],
                                        list[dict[str, Any]]]:
    names = {u.id: u.upn for u in state.users}
    rows, users = [], []
    for u in sorted(state.users, key=lambda u: u.upn.lower()):
        licences = sorted(state.part_number(s) for s in u.licences)
        p = u.properties
        rows.append([u.employee_id, u.upn, str(p.get("displayName") or ""),
                     "yes" if p.get("accountEnabled") else "no", ";".join(licences),
                     "yes" if u.synced else "no", u.id])
        users.append({"id": u.id, "userPrincipalName": u.upn, "employeeId": u.employee_id,
                      "synced": u.synced, "properties": dict(p), "licences": licences,
                      "proxyAddresses": list(u.proxy_addresses),
                      "licenceStates": [{"sku": state.part_number(s.sku_id),
                                         "group": s.by_group, "state": s.state,
                                         "error": s.error} for s in u.states]})
    groups = [{"id": g.id, "displayName": g.name, "description": g.description,
               "synced": g.synced, "members": sorted(names.get(m, m) for m in g.members)}
              for g in sorted(state.groups, key=lambda g: g.name.lower())]
    return rows, users, groups


def bundle_files(handover: Handover, leavers_ou: str) -> dict[str, bytes]:
    """Every file of the bundle but the manifest, by its path inside the folder (pure).

    Args:
        handover: what was read.
        leavers_ou: the region's leavers container DN, to tell parked accounts.
    """
    partner = handover.partner
    files: dict[str, bytes] = {}
    people_rows, people = _people(partner)
    files["people.csv"] = _csv(PEOPLE_HEADER, people_rows)
    files["people.json"] = _json(people)
    account_rows, accounts = _accounts(handover.accounts, handover.groups, dn_key(leavers_ou))
    files["accounts.csv"] = _csv(ACCOUNT_HEADER, account_rows)
    files["accounts.json"] = _json(accounts)
    files["accounts.ldif"] = ldif(handover.accounts).encode("utf-8")
    groups = [{**exported(g), "members": sorted(g.texts("member"))} for g in handover.groups]
    files["groups.json"] = _json(groups)
    files["groups.csv"] = _csv(("group", "description", "members", "dn"), (
        [g.text("sAMAccountName") or g.text("cn"), g.text("description"),
         str(len(g.texts("member"))), g.dn] for g in handover.groups))
    if handover.cloud is not None:
        rows, users, cloud_groups = _cloud(handover.cloud)
        files["m365/users.csv"] = _csv(("employee_id", "upn", "display_name", "enabled",
                                        "licences", "synced_from_ad", "id"), rows)
        files["m365/users.json"] = _json(users)
        files["m365/groups.json"] = _json(cloud_groups)
    devices = [[d.asset_tag, d.kind.value, d.employee_id, d.site or "", d.mac or "",
                d.wg_public_key or ""] for d in partner.devices]
    files["devices.csv"] = _csv(DEVICE_HEADER, devices)
    files["devices.json"] = _json([dict(zip(DEVICE_HEADER, d, strict=True)) for d in devices])
    addresses = sorted((tag, kind, address) for kind, by_tag in handover.addresses.items()
                       for tag, address in by_tag.items())
    files["addresses.csv"] = _csv(("asset_tag", "kind", "address"), addresses)
    files["addresses.json"] = _json([{"asset_tag": t, "kind": k, "address": a}
                                     for t, k, a in addresses])
    for host, paths in sorted(handover.configs.items()):
        for path, text in sorted(paths.items()):
            files[f"configs/{host}/{path.lstrip('/')}"] = text.encode("utf-8")
    if handover.homes is not None:
        homes = sorted(handover.homes, key=lambda h: (str(h.get("host", "")),
                                                      str(h.get("path", ""))))
        files["homes.json"] = _json(list(homes))
        columns = ("host", "kind", "name", "path", "owner", "files", "bytes", "newest")
        files["homes.csv"] = _csv(columns, ([h.get(c, "") for c in columns] for h in homes))
    return files


def counts(handover: Handover) -> dict[str, int]:
    """The figures of a bundle, for its manifest and for people checking it."""
    cloud = handover.cloud
    return {
        "people": len(handover.partner.people),
        "accounts": len(handover.accounts),
        "accounts_enabled": sum(1 for a in handover.accounts if a.text("userAccountControl")
                                .isdigit() and not int(a.text("userAccountControl")) &
                                _UAC_DISABLED),
        "groups": len(handover.groups),
        "memberships": sum(len(g.texts("member")) for g in handover.groups),
        "cloud_users": len(cloud.users) if cloud else 0,
        "licences": sum(len(u.licences) for u in cloud.users) if cloud else 0,
        "devices": len(handover.partner.devices),
        "addresses": sum(len(v) for v in handover.addresses.values()),
        "configs": sum(len(v) for v in handover.configs.values()),
        "homes": len(handover.homes or ()),
    }


def manifest(handover: Handover, files: Mapping[str, bytes], tool: str) -> bytes:
    """The manifest: who, when, the counts, and every file with its SHA-256 and size."""
    p = handover.partner
    return _json({
        "format": FORMAT, "tool": tool, "region": handover.region, "target": handover.target,
        "created": handover.created,
        "partner": {"code": p.code, "name": p.name, "kind": p.kind.value,
                    "upn_suffix": p.upn_suffix, "identity": p.identity.value,
                    "services": list(p.services)},
        "counts": counts(handover),
        "notes": list(handover.notes),
        "files": {path: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for path, data in sorted(files.items())},
    })


# -- writing and checking -------------------------------------------------------------------


def bundle_folder(to: Path) -> Path:
    """Where a handover bundle given as `--to` goes: the absolute path with `..` and symlinks
    resolved, as the partner file will record it; checked before anything is read or written.

    Raises:
        BundleError: the path is a file, a folder that is not empty, a symlink loop, or a
            path the partner file cannot hold (control characters, too long); the message
            names it and says what to give instead.
    """
    given = str(to)
    try:
        folder = to.expanduser().resolve(strict=False)
    except (OSError, RuntimeError) as e:
        raise BundleError(f"--to {given!r} cannot be resolved ({e}): give a new or empty "
                          "folder") from None
    shown = f"--to {given!r}" + ("" if str(folder) == given else f" (that is {str(folder)!r})")
    if not _FOLDER_PATH.fullmatch(str(folder)) or ".." in folder.parts:
        raise BundleError(f"{shown}: the partner file records the bundle's folder as an "
                          "absolute path of at most 1,024 characters without control "
                          "characters; give another folder")
    if folder.exists() and not folder.is_dir():
        raise BundleError(f"{shown} is a file, not a folder: give a new or empty folder")
    try:
        entries = sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
    except OSError as e:
        raise BundleError(f"{shown} cannot be read ({e.strerror}): give a new or empty "
                          "folder") from None
    if entries:
        what = "1 entry" if entries == 1 else f"{entries} entries"
        raise BundleError(f"{shown} is not an empty folder ({what}): a handover "
                          "bundle is written into a new or empty folder, never over another "
                          "one")
    return folder


def remove_bundle(folder: Path, kept_folder: bool) -> None:
    """Take back a bundle this run wrote (the offboarding did not go on): its files, and the
    folder too unless it was there (empty) before."""
    shutil.rmtree(folder, ignore_errors=True)
    if kept_folder:
        folder.mkdir(mode=0o700, exist_ok=True)


def write_handover_bundle(folder: Path, files: Mapping[str, bytes], manifest_data: bytes) -> str:
    """Write the bundle whole or not at all; returns the manifest's SHA-256.

    The files go into a private folder beside `folder` and are synced; the folder is renamed
    into place last, so a crash leaves no half bundle under the name (only a `.partial` folder
    to remove). `folder` must not exist, or be empty.

    Raises:
        BundleError: the folder is not empty, or cannot be written.
    """
    folder = folder.absolute()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BundleError(f"{folder} exists and is not an empty folder: a handover bundle is "
                          "written into a new or empty folder, never over another one")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    except OSError as e:
        raise BundleError(f"cannot write the bundle beside {folder}: {e.strerror}") from e
    try:
        for path, data in (*sorted(files.items()), (MANIFEST, manifest_data)):
            target = partial / path
            _private_parents(partial, target)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if folder.exists():
            folder.rmdir()
        partial.replace(folder)
    except OSError as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise BundleError(f"cannot write the bundle to {folder}: {e}") from e
    return hashlib.sha256(manifest_data).hexdigest()


def _private_parents(top: Path, target: Path) -> None:
    for parent in reversed(target.relative_to(top).parents):
        if str(parent) != ".":
            with contextlib.suppress(FileExistsError):
                (top / parent).mkdir(mode=0o700)


@dataclass(frozen=True)
class BundleCheck:
    """What a bundle folder holds and whether it is whole: every file as its manifest says."""

    folder: Path
    manifest_sha256: str
    manifest: Mapping[str, Any]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def partner(self) -> str:
        return str(self.manifest.get("partner", {}).get("code", ""))

    def accounts(self) -> list[dict[str, Any]]:
        """The accounts the bundle holds (accounts.json), as exported."""
        raw = _read_in(self.folder, "accounts.json")
        try:
            data = json.loads(raw) if isinstance(raw, bytes) else []
        except ValueError:
            return []
        return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []

    def guids(self) -> frozenset[str]:
        return frozenset(_first(a, "objectGUID") for a in self.accounts()) - {""}


def _first(account: Mapping[str, Any], name: str) -> str:
    values = account.get("attributes", {}).get(name) or []
    return str(values[0]).lower() if isinstance(values, list) and values else ""


def check_handover_bundle(folder: Path, expect_sha256: str = "") -> BundleCheck:
    """Read a bundle folder against its manifest: every file there, with its SHA-256 and size;
    no file that the manifest does not name; the manifest itself the one recorded at the
    offboarding (`expect_sha256`, when given)."""
    problems: list[str] = []
    raw = _read_in(folder, MANIFEST)
    if isinstance(raw, str):
        return BundleCheck(folder, "", {}, (f"{folder / MANIFEST}: {raw}",))
    digest = hashlib.sha256(raw).hexdigest()
    try:
        data = json.loads(raw)
        listed = dict(data["files"])
        if data.get("format") != FORMAT:
            problems.append(f"{MANIFEST}: format {data.get('format')!r}, not {FORMAT!r}")
    except (ValueError, KeyError, TypeError) as e:
        return BundleCheck(folder, digest, {}, (f"{MANIFEST}: not a bundle manifest ({e})",))
    if expect_sha256 and digest != expect_sha256:
        problems.append(f"{MANIFEST} has SHA-256 {digest}, the offboarding recorded "
                        f"{expect_sha256}: it is not the manifest written then")
    for path, want in sorted(listed.items()):
        if ".." in Path(path).parts or Path(path).is_absolute():
            problems.append(f"{MANIFEST}: names a file outside the bundle: {path!r}")
            continue
        body = _read_in(folder, path)
        if isinstance(body, str):
            problems.append(f"{path}: {body}")
            continue
        if not isinstance(want, dict) or hashlib.sha256(body).hexdigest() != want.get("sha256"):
            problems.append(f"{path}: its SHA-256 is not the manifest's (changed since)")
        elif len(body) != want.get("bytes"):
            problems.append(f"{path}: {len(body)} bytes, the manifest says {want.get('bytes')}")
    for extra in sorted(_files(folder) - set(listed) - {MANIFEST}):
        problems.append(f"{extra}: not in the manifest (added since)")
    return BundleCheck(folder, digest, data, tuple(problems))


def _read_in(folder: Path, path: str) -> bytes | str:
    """The bytes of a bundle's file, or what is wrong: only a regular file inside the bundle
    folder is read (a FIFO, a device or a symlink out of it is named, never waited on or
    followed), of at most BUNDLE_FILE_MAX bytes."""
    try:
        found = read_regular(folder / path, path, BUNDLE_FILE_MAX,
                             [str(folder.absolute())], "the bundle holds its own files only")
    except FileNotFoundError:
        return "no such file"
    return found if isinstance(found, bytes) else found.message


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in _walk(folder)}


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() or path.is_symlink():
            yield path
