"""NetBox over its REST API: bulk reads, and the changes of the plan's NetBox section applied.

Writes go through pynetbox's endpoints (`create`, `update`, `delete` with lists: one request
per batch). Reads page with `limit=1000` through pynetbox's own HTTP session and keep the JSON
as dicts: building pynetbox Records for thousands of devices costs more than the requests do
(bench/netbox.py shows both). Nothing here decides what to change: that is `diff.netbox`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pynetbox
import requests

from ssc_infra.core.errors import BackendError
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind
from ssc_infra.core.secrets import Secret
from ssc_infra.netbox.diff import UNTAGGED, Existing, endpoint
from ssc_infra.netbox.objects import (
    APPLY_ORDER,
    DEFERRED,
    OWNER_TAG,
    is_ref,
)

PAGE = 1000
BATCH = 250  # objects per bulk write; NetBox writes ~20 devices/s, so a batch takes ~12 s

# Fields that refer to another object, per field name: the kind they refer to.
_REF_FIELDS = {
    "tenant": ObjectKind.NB_TENANT, "group": ObjectKind.NB_TENANT_GROUP,
    "site": ObjectKind.NB_SITE, "vlan": ObjectKind.NB_VLAN,
    "manufacturer": ObjectKind.NB_MANUFACTURER, "device_type": ObjectKind.NB_DEVICE_TYPE,
    "role": ObjectKind.NB_DEVICE_ROLE, "device": ObjectKind.NB_DEVICE,
    "primary_mac_address": ObjectKind.NB_MAC, "primary_ip4": ObjectKind.NB_IP,
    "scope_id": ObjectKind.NB_SITE, "assigned_object_id": ObjectKind.NB_INTERFACE,
}
_CHOICES = ("status", "type")
# What each kind's read asks for (NetBox's `fields` selection keeps pages small).
READ_FIELDS = {
    ObjectKind.NB_TAG: "id,url,display,name,slug,color,description",
    ObjectKind.NB_CUSTOM_FIELD: "id,url,display,name,label,type,object_types,description,"
                                "required",
    ObjectKind.NB_DEVICE: "id,url,display,display_url,name,device_type,role,site,tenant,status,"
                          "tags,primary_ip4,custom_fields",
    ObjectKind.NB_INTERFACE: "id,url,display,device,name,type,primary_mac_address,mac_address,"
                             "tags",
    ObjectKind.NB_MAC: "id,url,display,mac_address,assigned_object_type,assigned_object_id,"
                       "tags",
    ObjectKind.NB_IP: "id,url,display,address,status,tenant,assigned_object_type,"
                      "assigned_object_id,description,tags",
}


@dataclass(frozen=True)
class NetBoxSettings:
    url: str  # https://netbox.example.org (without /api)
    token: Secret
    ca_file: str | None = None
    timeout: float = 300.0


@dataclass
class Counter:
    """Requests and their time, for the progress line and the bench."""

    requests: int = 0
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds_by_kind: dict[str, float] = field(default_factory=dict)

    def slowest(self, top: int = 4) -> str:
        """The kinds whose reads took longest: `device 3 req 4.1 s, ...`."""
        ranked = sorted(self.seconds_by_kind.items(), key=lambda kv: -kv[1])[:top]
        return ", ".join(f"{k} {self.by_kind.get(k, 0)} req {s:.1f} s" for k, s in ranked)


class NetBox:
    """One NetBox: `read(kind, **filters)` pages in bulk; `apply(changes)` writes in bulk."""

    def __init__(self, settings: NetBoxSettings) -> None:
        self.settings = settings
        self.base = settings.url.rstrip("/")
        self.api = pynetbox.api(self.base, token=settings.token.reveal())
        session = requests.Session()
        session.verify = settings.ca_file or True
        self.api.http_session = session
        self.count = Counter()
        self._counting = threading.Lock()

    # -- reads ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """/api/status/, which also proves the token works.

        Raises:
            BackendError: NetBox unreachable, or the token refused, saying which.
        """
        data = self._get("status/", {})
        if not isinstance(data, dict) or "netbox-version" not in data:
            raise BackendError(f"{self.base}: /api/status/ is not NetBox's answer")
        self._get("users/tokens/", {"limit": 1})  # status answers without a token
        return data

    def read(self, kind: ObjectKind, **filters: Any) -> list[dict[str, Any]]:
        """Every object of `kind` matching the filters, paged with limit=1000."""
        params: dict[str, Any] = {"limit": PAGE, **filters}
        if kind in READ_FIELDS:
            params["fields"] = READ_FIELDS[kind]
        path = endpoint(kind) + "/"
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            started = time.perf_counter()
            page = self._get(path, {**params, "offset": offset})
            with self._counting:  # reads may run side by side (netbox_push.read_existing)
                spent = self.count.seconds_by_kind.get(kind.value, 0.0)
                self.count.seconds_by_kind[kind.value] = spent + time.perf_counter() - started
            results = page.get("results") if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise BackendError(f"{self.base}/api/{path}: not a page of results")
            out.extend(r for r in results if isinstance(r, dict))
            with self._counting:
                self.count.by_kind[kind.value] = self.count.by_kind.get(kind.value, 0) + 1
            if not page.get("next") or not results:
                return out
            offset += len(results)

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        url = f"{self.base}/api/{path}"
        started = time.perf_counter()
        try:
            response = self.api.http_session.get(
                url, params=params, timeout=self.settings.timeout,
                headers={"Authorization": _auth(self.settings.token),
                         "Accept": "application/json"})
        except requests.RequestException as e:
            raise BackendError(f"NetBox at {self.base} cannot be reached ({_reason(e)}): is "
                               "it running, and is the URL in the target right?") from None
        finally:
            with self._counting:
                self.count.requests += 1
                self.count.seconds += time.perf_counter() - started
        if response.status_code in (401, 403):
            raise BackendError(f"NetBox at {self.base} refused the token (HTTP "
                               f"{response.status_code}): check token_env / token_file in the "
                               "target, and that the token may read and write")
        if response.status_code != 200:
            raise BackendError(f"NetBox at {self.base}: GET {urlparse(url).path} answered HTTP "
                               f"{response.status_code}: {_body(response)}")
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"NetBox at {self.base}: GET {urlparse(url).path} did not answer "
                               "JSON") from None

    # -- writes ---------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change], refs: Refs,
              progress: Callable[[str], None] | None = None) -> list[ItemResult]:
        """Apply the changes in dependency order, in bulk, each with its own result.

        A batch NetBox refuses is retried object by object, so one bad object fails alone;
        an object whose reference failed is not sent. `refs` knows the ids of what exists and
        learns those of what is made.
        """
        results: list[ItemResult] = []
        failed: set[tuple[str, str]] = set()
        creates = [c for c in changes if c.action is Action.CREATE]
        updates = [c for c in changes if c.action is Action.UPDATE]
        deletes = [c for c in changes if c.action is Action.DELETE]
        deferred: list[tuple[Change, dict[str, Any]]] = []
        for kind in APPLY_ORDER:
            batch = [c for c in creates if c.kind is kind]
            if batch:
                results += self._write(kind, batch, refs, failed, deferred, progress)
            batch = [c for c in updates if c.kind is kind]
            if batch:
                results += self._write(kind, batch, refs, failed, deferred, progress)
        if deferred:
            results = self._deferred(deferred, refs, failed, results)
        for kind in reversed(APPLY_ORDER):
            batch = [c for c in deletes if c.kind is kind]
            for chunk in _chunks(batch, BATCH):
                results += self._delete(kind, chunk, progress)
        return results

    def _write(self, kind: ObjectKind, batch: list[Change], refs: Refs,
               failed: set[tuple[str, str]], deferred: list[tuple[Change, dict[str, Any]]],
               progress: Callable[[str], None] | None) -> list[ItemResult]:
        results: list[ItemResult] = []
        ready: list[tuple[Change, dict[str, Any]]] = []
        for change in batch:
            fields = dict(change.after)
            later = {name: fields.pop(name) for name in DEFERRED.get(kind, ())
                     if name in fields and fields[name] is not None}
            missing = _failed_refs(fields, failed)
            if missing:
                failed.add((kind.value, change.key))
                results.append(ItemResult(change, False, f"not sent: {missing} failed"))
                continue
            try:
                body = refs.resolve(kind, fields)
            except KeyError as e:
                failed.add((kind.value, change.key))
                results.append(ItemResult(change, False, f"not sent: {e.args[0]}"))
                continue
            if change.action is Action.UPDATE:
                body["id"] = refs.id_of(kind, change.key)
            ready.append((change, body))
            if later:
                deferred.append((change, later))
        for chunk in _chunks(ready, BATCH):
            results += self._send(kind, chunk, refs, failed)
            if progress:
                progress(f"{endpoint(kind)}: {len(chunk)} written")
        return results

    def _send(self, kind: ObjectKind, chunk: Sequence[tuple[Change, dict[str, Any]]],
              refs: Refs, failed: set[tuple[str, str]]) -> list[ItemResult]:
        """One bulk request; when NetBox refuses it, each object alone (to name the bad one)."""
        ep = self._endpoint(kind)
        creating = chunk[0][0].action is Action.CREATE
        bodies = [body for _, body in chunk]
        try:
            answer = self._timed(lambda: ep.create(bodies) if creating else ep.update(bodies))
            made = list(answer) if isinstance(answer, list) else []
        except pynetbox.RequestError as e:
            if len(chunk) > 1 and e.req.status_code == 400:
                out: list[ItemResult] = []
                for one in chunk:
                    out += self._send(kind, [one], refs, failed)
                return out
            reason = _request_error(e)
            for change, _ in chunk:
                failed.add((kind.value, change.key))
            return [ItemResult(c, False, reason) for c, _ in chunk]
        except requests.RequestException as e:
            for change, _ in chunk:
                failed.add((kind.value, change.key))
            return [ItemResult(c, False, f"NetBox cannot be reached ({_reason(e)})")
                    for c, _ in chunk]
        if creating:
            for (change, _), record in zip(chunk, made, strict=False):
                refs.learn(kind, change.key, int(record.id))
        return [ItemResult(c, True) for c, _ in chunk]

    def _deferred(self, deferred: list[tuple[Change, dict[str, Any]]], refs: Refs,
                  failed: set[tuple[str, str]], results: list[ItemResult]) -> list[ItemResult]:
        """The fields set once what they refer to exists (a host's primary IP)."""
        by_change = {id(r.change): i for i, r in enumerate(results)}
        for change, fields in deferred:
            index = by_change.get(id(change))
            if index is None or not results[index].ok:
                continue
            missing = _failed_refs(fields, failed)
            try:
                if missing:
                    raise KeyError(f"{missing} failed")
                body = {"id": refs.id_of(change.kind, change.key),
                        **refs.resolve(change.kind, fields)}
                self._update_one(change.kind, body)
            except KeyError as e:
                results[index] = ItemResult(change, False, f"{', '.join(fields)} not set: "
                                            f"{e.args[0]}")
            except (pynetbox.RequestError, requests.RequestException) as e:
                results[index] = ItemResult(change, False, f"{', '.join(fields)} not set: "
                                            f"{_request_error(e)}")
        return results

    def _update_one(self, kind: ObjectKind, body: dict[str, Any]) -> None:
        endpoint_ = self._endpoint(kind)
        self._timed(lambda: endpoint_.update([body]))

    def _delete(self, kind: ObjectKind, chunk: Sequence[Change],
                progress: Callable[[str], None] | None) -> list[ItemResult]:
        ids = [int(c.target.rstrip("/").rsplit("/", 1)[1]) for c in chunk]
        try:
            self._timed(lambda: self._endpoint(kind).delete(ids))
        except (pynetbox.RequestError, requests.RequestException) as e:
            return [ItemResult(c, False, _request_error(e)) for c in chunk]
        if progress:
            progress(f"{endpoint(kind)}: {len(chunk)} deleted")
        return [ItemResult(c, True) for c in chunk]

    def _endpoint(self, kind: ObjectKind) -> Any:
        app, name = endpoint(kind).split("/")
        return getattr(getattr(self.api, app), name.replace("-", "_"))

    def _timed(self, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            with self._counting:
                self.count.requests += 1
                self.count.seconds += time.perf_counter() - started


class Refs:
    """The ids of objects by (kind, key), to turn `ref`s into ids and back."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._keys: dict[tuple[str, int], str] = {}

    def learn(self, kind: ObjectKind, key: str, ident: int) -> None:
        self._ids[(kind.value, key)] = ident
        self._keys[(kind.value, ident)] = key

    def id_of(self, kind: ObjectKind, key: str) -> int:
        try:
            return self._ids[(kind.value, key)]
        except KeyError:
            raise KeyError(f"NetBox has no {kind.value} {key!r}") from None

    def key_of(self, kind: ObjectKind, ident: Any) -> str | None:
        if isinstance(ident, Mapping):
            ident = ident.get("id")
        return self._keys.get((kind.value, ident)) if isinstance(ident, int) else None

    def resolve(self, kind: ObjectKind, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The fields as the API takes them: refs as ids, tags as ids."""
        body: dict[str, Any] = {}
        for name, value in fields.items():
            if is_ref(value):
                body[name] = self.id_of(ObjectKind(value["ref"]), value["key"])
            elif name == "tags":
                body[name] = [self.id_of(ObjectKind.NB_TAG, slug) for slug in value]
            else:
                body[name] = value
        return body


def _failed_refs(fields: Mapping[str, Any], failed: set[tuple[str, str]]) -> str:
    for value in fields.values():
        if is_ref(value) and (value["ref"], value["key"]) in failed:
            return f"{value['ref']} {value['key']}"
    return ""


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- what NetBox holds, in the diff's terms -----------------------------------------------


def existing_objects(raw: Mapping[ObjectKind, Iterable[Mapping[str, Any]]],
                     partners: Mapping[int, str], refs: Refs) -> list[Existing]:
    """The objects read, as `Existing`s with their keys and fields in the desired terms.

    Args:
        raw: per kind, the objects read (in `APPLY_ORDER`, so refs are known first).
        partners: tenant id -> partner code (the region's tenants).
        refs: filled with every object's id.
    """
    keyed: list[tuple[ObjectKind, str, Mapping[str, Any]]] = []
    for kind in APPLY_ORDER:  # every key first: a device's primary IP is read after it
        for obj in raw.get(kind, ()):
            key = _key_of(kind, obj, refs)
            if key is not None and isinstance(obj.get("id"), int):
                refs.learn(kind, key, int(obj["id"]))
                keyed.append((kind, key, obj))
    out: list[Existing] = []
    device_partner: dict[int, str] = {}
    interface_partner: dict[int, str] = {}
    for kind, key, obj in keyed:
        ident = int(obj["id"])
        partner = partners.get(_nested_id(obj.get("tenant")) or -1, "")
        if kind is ObjectKind.NB_TENANT:
            partner = partners.get(ident, "")
        elif kind is ObjectKind.NB_DEVICE:
            device_partner[ident] = partner
        elif kind is ObjectKind.NB_INTERFACE:
            partner = device_partner.get(_nested_id(obj.get("device")) or -1, "")
            interface_partner[ident] = partner
        elif kind is ObjectKind.NB_MAC:
            # by its interface's id: the nested assigned_object costs NetBox a query per MAC
            partner = interface_partner.get(int(obj.get("assigned_object_id") or -1), "")
        tags = [str(t.get("slug")) for t in obj.get("tags") or [] if isinstance(t, Mapping)]
        owned = kind in UNTAGGED or OWNER_TAG in tags
        out.append(Existing(kind, key, ident, f"{endpoint(kind)}/{ident}", partner, owned,
                            _fields(obj, refs), str(obj.get("display") or key)))
    return out


def _key_of(kind: ObjectKind, obj: Mapping[str, Any], refs: Refs) -> str | None:
    if kind in (ObjectKind.NB_TAG, ObjectKind.NB_TENANT_GROUP, ObjectKind.NB_TENANT,
                ObjectKind.NB_SITE, ObjectKind.NB_MANUFACTURER, ObjectKind.NB_DEVICE_TYPE,
                ObjectKind.NB_DEVICE_ROLE):
        return str(obj.get("slug") or "") or None
    if kind is ObjectKind.NB_CUSTOM_FIELD:
        return str(obj.get("name") or "") or None
    if kind is ObjectKind.NB_VLAN:
        return refs.key_of(ObjectKind.NB_SITE, obj.get("site"))
    if kind is ObjectKind.NB_PREFIX:
        if obj.get("scope_type") != "dcim.site":
            return None
        return refs.key_of(ObjectKind.NB_SITE, obj.get("scope_id"))
    if kind is ObjectKind.NB_DEVICE:
        return str(obj.get("name") or "") or None
    if kind is ObjectKind.NB_MAC:
        return str(obj.get("mac_address") or "").upper() or None
    if kind is ObjectKind.NB_INTERFACE:
        device = refs.key_of(ObjectKind.NB_DEVICE, obj.get("device"))
        return f"{device}/{obj.get('name')}" if device else None
    if kind is ObjectKind.NB_IP:
        return str(obj.get("address") or "").split("/")[0] or None
    return None


def _fields(obj: Mapping[str, Any], refs: Refs) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in obj.items():
        if name in ("id", "url", "display", "display_url"):
            continue
        if name == "tags":
            fields[name] = sorted(str(t.get("slug")) for t in value or []
                                  if isinstance(t, Mapping))
        elif name in _REF_FIELDS:
            fields[name] = None if value is None else _as_ref(
                _REF_FIELDS[name], refs.key_of(_REF_FIELDS[name], value), value)
        elif name in _CHOICES and isinstance(value, Mapping):
            fields[name] = value.get("value")
        else:
            fields[name] = value
    return fields


def _as_ref(kind: ObjectKind, key: str | None, value: Any) -> Any:
    if key is None:  # something the tool does not know: keep its id, so it differs
        return {"ref": kind.value, "key": f"#{_nested_id(value)}"}
    return {"ref": kind.value, "key": key}


def _nested_id(value: Any) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, int) else None


def _auth(token: Secret) -> str:
    value = token.reveal()
    return f"Bearer {value}" if value.startswith("nbt_") else f"Token {value}"


def _reason(error: BaseException) -> str:
    text = str(error)
    return text.split("(Caused by ")[-1].rstrip(")") if "Caused by" in text else \
        type(error).__name__


def _body(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] if text else "(no body)"


def _request_error(error: BaseException) -> str:
    if isinstance(error, pynetbox.RequestError):
        status = error.req.status_code
        detail = error.error if isinstance(error.error, str) else repr(error.error)
        return f"NetBox answered HTTP {status}: {detail[:500]}"
    if isinstance(error, requests.RequestException):
        return f"NetBox cannot be reached ({_reason(error)})"
    return str(error)
