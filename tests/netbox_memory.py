"""NetBox's answers, in memory: the JSON its REST API returns for objects the tool made.

For unit tests of the mapping and the diff without a server: `answers(desired)` is what a
NetBox that holds exactly `desired` returns per kind (ids, nested objects, choice values,
an interface's `mac_address` from its primary MAC, a device's primary IP). The integration
tests check the same against a real NetBox.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ssc_infra.core.plan import ObjectKind
from ssc_infra.netbox.objects import NbObject, is_ref

_CHOICES = {"status", "type"}


def answers(desired: Iterable[NbObject]) -> dict[ObjectKind, list[dict[str, Any]]]:
    objects = list(desired)
    ids: dict[tuple[str, str], int] = {}
    for number, obj in enumerate(objects, start=1):
        ids[(obj.kind.value, obj.key)] = number
    by_key = {(o.kind.value, o.key): o for o in objects}
    out: dict[ObjectKind, list[dict[str, Any]]] = {}
    for obj in objects:
        ident = ids[(obj.kind.value, obj.key)]
        record: dict[str, Any] = {"id": ident, "url": f"http://nb/api/x/{ident}/",
                                  "display": obj.key}
        for name, value in obj.fields.items():
            if is_ref(value):
                target = by_key[(value["ref"], value["key"])]
                nested = {"id": ids[(value["ref"], value["key"])], "display": target.key,
                          **{k: target.fields[k] for k in ("slug", "name", "address")
                             if k in target.fields}}
                record[name] = nested["id"] if name in ("scope_id", "assigned_object_id") \
                    else nested
            elif name == "tags":
                record[name] = [{"id": ids[("tag", slug)], "slug": slug} for slug in value]
            elif name in _CHOICES and obj.kind is not ObjectKind.NB_CUSTOM_FIELD:
                record[name] = None if value is None else {"value": value, "label": value}
            elif name == "type":
                record[name] = {"value": value, "label": value}
            else:
                record[name] = value
        if obj.kind is ObjectKind.NB_INTERFACE:
            mac = obj.fields.get("primary_mac_address")
            record["mac_address"] = mac["key"] if mac else None
        out.setdefault(obj.kind, []).append(record)
    return out
