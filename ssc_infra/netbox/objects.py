"""The region in NetBox's terms, both ways. Pure: no I/O.

`desired_objects` says what NetBox should hold for a Region (and the addresses the tool handed
out); `inventory_documents` turns what NetBox holds back into the inventory's own documents
(region.yaml, a partner file per tenant, a device list per tenant), which the files loader then
validates like any other inventory: one set of checks for both sources.

The mapping (docs/netbox.md has it as a table): the region is a tenant group (its settings
in the custom field `ssc_region`); a partner a tenant in it (kind, identity, UPN suffix,
services, quota and HR export in custom fields); a site a site with the partner as tenant (tag
`ssc-shared-site` for a shared flex site), its VLAN and subnet a VLAN at the site and a prefix
scoped to it; an infrastructure host a device at the region's infrastructure site, a role per
host role, its management address the primary IP; a laptop or thin client a device with the
partner as tenant, the MAC on interface eth0, the WireGuard key in a custom field; a VPN
address or DHCP reservation an IP address on the device's wg0 or eth0.

Every object the tool makes carries the tag `ssc-infra`; without it an object is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ssc_infra.core.model import DeviceKind, HostRole, Partner, Region
from ssc_infra.core.plan import ObjectKind
from ssc_infra.core.workplaces import VPN_NETWORK, Workplaces

OWNER_TAG = "ssc-infra"
SHARED_SITE_TAG = "ssc-shared-site"
MANUFACTURER = "ssc-generic"
SERVER_TYPE = "ssc-server"
MGMT_INTERFACE = "mgmt0"
LAN_INTERFACE = "eth0"
VPN_INTERFACE = "wg0"
DEVICE_ROLES = {DeviceKind.LAPTOP: "laptop", DeviceKind.THIN_CLIENT: "thin-client"}
DEVICE_TYPES = {DeviceKind.LAPTOP: "ssc-laptop", DeviceKind.THIN_CLIENT: "ssc-thin-client"}
_COLOURS = {"laptop": "2196f3", "thin-client": "4caf50"}

# The order objects are made in: each refers only to kinds before it.
APPLY_ORDER = (
    ObjectKind.NB_TAG, ObjectKind.NB_CUSTOM_FIELD, ObjectKind.NB_TENANT_GROUP,
    ObjectKind.NB_MANUFACTURER, ObjectKind.NB_DEVICE_TYPE, ObjectKind.NB_DEVICE_ROLE,
    ObjectKind.NB_TENANT, ObjectKind.NB_SITE, ObjectKind.NB_VLAN, ObjectKind.NB_PREFIX,
    ObjectKind.NB_DEVICE, ObjectKind.NB_MAC, ObjectKind.NB_INTERFACE, ObjectKind.NB_IP,
)
# Fields set once the kinds they refer to exist (a host's primary IP is on its interface).
DEFERRED = {ObjectKind.NB_DEVICE: ("primary_ip4",)}


def ref(kind: ObjectKind, key: str) -> dict[str, str]:
    """A reference to another object by its key, made an id when the change is applied."""
    return {"ref": kind.value, "key": key}


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"ref", "key"}


@dataclass(frozen=True, slots=True)
class CustomField:
    name: str
    label: str
    type: str  # NetBox's custom field types: text, integer, boolean, json
    object_types: tuple[str, ...]
    description: str


CUSTOM_FIELDS = (
    CustomField("ssc_region", "SSC region settings", "json", ("tenancy.tenantgroup",),
                "ssc-infra: directory, naming, guards and services of the region"),
    CustomField("ssc_kind", "SSC partner kind", "text", ("tenancy.tenant",),
                "ssc-infra: municipality or affiliated"),
    CustomField("ssc_identity", "SSC identity", "text", ("tenancy.tenant",),
                "ssc-infra: hybrid (AD + Entra Connect) or cloud (Entra ID only)"),
    CustomField("ssc_upn_suffix", "SSC UPN suffix", "text", ("tenancy.tenant",),
                "ssc-infra: the partner's UPN and mail domain"),
    CustomField("ssc_services", "SSC services", "json", ("tenancy.tenant",),
                "ssc-infra: the services the partner opts in to, a list of codes"),
    CustomField("ssc_quota_users", "SSC user quota", "integer", ("tenancy.tenant",),
                "ssc-infra: most people (not yet left) allowed; empty: no quota"),
    CustomField("ssc_people", "SSC HR export", "text", ("tenancy.tenant",),
                "ssc-infra: the partner's HR export, a path inside the inventory folder"),
    CustomField("ssc_lifecycle", "SSC lifecycle", "json", ("tenancy.tenant",),
                "ssc-infra: offboarded (date, bundle, manifest_sha256), merged (into, date) "
                "or merged_from (partners, ids), as `partner offboard` and `partner merge` set"),
    CustomField("ssc_position", "SSC site position", "integer", ("dcim.site",),
                "ssc-infra: the site's place in its partner's list (the first carries its VLAN)"),
    CustomField("ssc_flex_desks", "SSC flex desks", "integer", ("dcim.site",),
                "ssc-infra: the site's flexible desks"),
    CustomField("ssc_employee_id", "SSC employee id", "text", ("dcim.device",),
                "ssc-infra: who the device is issued to (the partner's HR employee id)"),
    CustomField("ssc_wg_public_key", "WireGuard public key", "text", ("dcim.device",),
                "ssc-infra: the laptop's WireGuard public key"),
    CustomField("ssc_roaming", "SSC roaming", "boolean", ("dcim.device",),
                "ssc-infra: the device has no site of its own (NetBox shows the partner's first)"),
    CustomField("ssc_roles", "SSC host roles", "json", ("dcim.device",),
                "ssc-infra: every role of an infrastructure host (the device role is the first)"),
)


@dataclass(frozen=True, slots=True)
class NbObject:
    """One object NetBox should hold: its kind, its key (unique within the kind), the partner
    it belongs to ("" for none) and its fields as the API writes them, other objects as
    `ref`s, tags as a sorted list of slugs, custom fields as a mapping."""

    kind: ObjectKind
    key: str
    partner: str
    fields: Mapping[str, Any]


def infra_site(region: Region) -> str:
    """The slug of the site that holds the region's infrastructure hosts."""
    return infra_slug(region.code)


def infra_slug(region_code: str) -> str:
    return f"{region_code}-infra"


def desired_objects(region: Region, workplaces: Workplaces | None) -> list[NbObject]:
    """Everything NetBox should hold for the region, in `APPLY_ORDER`.

    Args:
        workplaces: the derived host state, for the addresses the tool handed out (VPN
            addresses, DHCP reservations); None leaves the addresses out.
    """
    owned = [OWNER_TAG]
    out: list[NbObject] = [
        NbObject(ObjectKind.NB_TAG, OWNER_TAG, "", {
            "name": OWNER_TAG, "slug": OWNER_TAG, "color": "9e9e9e",
            "description": "made and managed by ssc-infra; remove to take an object over"}),
        NbObject(ObjectKind.NB_TAG, SHARED_SITE_TAG, "", {
            "name": SHARED_SITE_TAG, "slug": SHARED_SITE_TAG, "color": "ff9800",
            "description": "ssc-infra: a flex site where any partner's people may work"}),
    ]
    out += [NbObject(ObjectKind.NB_CUSTOM_FIELD, cf.name, "", {
        "name": cf.name, "label": cf.label, "type": cf.type,
        "object_types": sorted(cf.object_types), "description": cf.description,
        "required": False}) for cf in CUSTOM_FIELDS]
    out.append(NbObject(ObjectKind.NB_TENANT_GROUP, region.code, "", {
        "name": region.name, "slug": region.code, "tags": owned,
        "custom_fields": {"ssc_region": region_settings(region)}}))
    out.append(NbObject(ObjectKind.NB_MANUFACTURER, MANUFACTURER, "", {
        "name": "SSC generic", "slug": MANUFACTURER, "tags": owned}))
    types = {SERVER_TYPE: "SSC server", **{DEVICE_TYPES[k]: f"SSC {DEVICE_ROLES[k]}"
                                           for k in DeviceKind}}
    out += [NbObject(ObjectKind.NB_DEVICE_TYPE, slug, "", {
        "model": model, "slug": slug, "manufacturer": ref(ObjectKind.NB_MANUFACTURER,
                                                          MANUFACTURER), "tags": owned})
        for slug, model in types.items()]
    roles = {**{r.value: _COLOURS.get(r.value, "607d8b") for r in HostRole},
             **{DEVICE_ROLES[k]: _COLOURS[DEVICE_ROLES[k]] for k in DeviceKind}}
    out += [NbObject(ObjectKind.NB_DEVICE_ROLE, slug, "", {
        "name": slug, "slug": slug, "color": colour, "tags": owned})
        for slug, colour in roles.items()]
    group = ref(ObjectKind.NB_TENANT_GROUP, region.code)
    for partner in region.partners:
        out.append(NbObject(ObjectKind.NB_TENANT, partner.code, partner.code, {
            "name": partner.name, "slug": partner.code, "group": group, "tags": owned,
            "custom_fields": {
                "ssc_kind": partner.kind.value, "ssc_identity": partner.identity.value,
                "ssc_upn_suffix": partner.upn_suffix, "ssc_services": list(partner.services),
                "ssc_quota_users": partner.quota_users, "ssc_people": people_file(partner.code),
                "ssc_lifecycle": lifecycle_of(partner),
            }}))
    out += _sites(region)
    out += _hosts(region)
    out += _devices(region, workplaces)
    order = {kind: index for index, kind in enumerate(APPLY_ORDER)}
    return sorted(out, key=lambda o: order[o.kind])


def lifecycle_of(partner: Partner) -> dict[str, Any] | None:
    """A partner's offboarding or merge, as the partner file holds it; None for neither."""
    if partner.offboarded is not None:
        o = partner.offboarded
        return {"offboarded": {"date": o.on.isoformat(), "bundle": o.bundle,
                               "manifest_sha256": o.manifest_sha256}}
    if partner.merged is not None:
        return {"merged": {"into": partner.merged.into, "date": partner.merged.on.isoformat()}}
    if partner.merged_from is not None:
        return {"merged_from": {"partners": list(partner.merged_from.partners),
                                "ids": partner.merged_from.ids}}
    return None


def people_file(partner: str) -> str:
    """Where a partner's HR export is, inside the inventory folder, by convention."""
    return f"people/{partner}.csv"


def region_settings(region: Region) -> dict[str, Any]:
    """The region's own settings, as region.yaml writes them (the tenant group's ssc_region)."""
    d, n, g = region.directory, region.naming, region.guards
    return {
        "region": {"code": region.code, "name": region.name},
        "directory": {"domain": d.domain, "partners_ou": d.partners_ou,
                      "leavers_ou": d.leavers_ou, "retention_days": d.retention_days,
                      "prestart_days": d.prestart_days},
        "naming": {"sam": n.sam, "upn": n.upn, "max_len": n.max_len,
                   **({"upn_follows_name": True} if n.upn_follows_name else {})},
        "guards": {"max_disable": g.max_disable,
                   "max_disable_fraction": g.max_disable_fraction},
        "services": {s.code: {"kind": s.kind.value, **({"sku": s.sku} if s.sku else {})}
                     for s in region.services},
    }


def _sites(region: Region) -> list[NbObject]:
    out: list[NbObject] = []
    for partner in region.partners:
        tenant = ref(ObjectKind.NB_TENANT, partner.code)
        for position, site in enumerate(partner.sites):
            tags = sorted([OWNER_TAG, *([SHARED_SITE_TAG] if site.shared else [])])
            out.append(NbObject(ObjectKind.NB_SITE, site.code, partner.code, {
                "name": site.name, "slug": site.code, "status": "active", "tenant": tenant,
                "tags": tags, "custom_fields": {"ssc_position": position,
                                                "ssc_flex_desks": site.flex_desks}}))
            out.append(NbObject(ObjectKind.NB_VLAN, site.code, partner.code, {
                "vid": site.vlan, "name": f"{site.code}"[:64], "status": "active",
                "site": ref(ObjectKind.NB_SITE, site.code), "tenant": tenant,
                "tags": [OWNER_TAG]}))
            out.append(NbObject(ObjectKind.NB_PREFIX, site.code, partner.code, {
                "prefix": str(site.subnet), "status": "active", "scope_type": "dcim.site",
                "scope_id": ref(ObjectKind.NB_SITE, site.code),
                "vlan": ref(ObjectKind.NB_VLAN, site.code), "tenant": tenant,
                "tags": [OWNER_TAG]}))
    return out


def _hosts(region: Region) -> list[NbObject]:
    if not region.hosts:
        return []
    site = infra_site(region)
    out = [NbObject(ObjectKind.NB_SITE, site, "", {
        "name": f"{region.name} infrastructure"[:100], "slug": site, "status": "active",
        "tenant": None, "tags": [OWNER_TAG],
        "custom_fields": {"ssc_position": None, "ssc_flex_desks": None}})]
    for host in region.hosts:
        address = str(host.address)
        out.append(NbObject(ObjectKind.NB_DEVICE, host.name, "", {
            "name": host.name, "device_type": ref(ObjectKind.NB_DEVICE_TYPE, SERVER_TYPE),
            "role": ref(ObjectKind.NB_DEVICE_ROLE, host.roles[0].value),
            "site": ref(ObjectKind.NB_SITE, site), "tenant": None, "status": "active",
            "tags": [OWNER_TAG], "primary_ip4": ref(ObjectKind.NB_IP, address),
            "custom_fields": {"ssc_roles": [r.value for r in host.roles],
                              "ssc_employee_id": None, "ssc_wg_public_key": None,
                              "ssc_roaming": None}}))
        interface = f"{host.name}/{MGMT_INTERFACE}"
        out.append(NbObject(ObjectKind.NB_INTERFACE, interface, "", {
            "device": ref(ObjectKind.NB_DEVICE, host.name), "name": MGMT_INTERFACE,
            "type": "virtual", "primary_mac_address": None, "tags": [OWNER_TAG]}))
        out.append(NbObject(ObjectKind.NB_IP, address, "", {
            "address": f"{address}/32", "status": "active", "tenant": None,
            "assigned_object_type": "dcim.interface",
            "assigned_object_id": ref(ObjectKind.NB_INTERFACE, interface),
            "description": f"management address of {host.name}", "tags": [OWNER_TAG]}))
    return out


def _devices(region: Region, workplaces: Workplaces | None) -> list[NbObject]:
    vpn: dict[str, str] = {}
    dhcp: dict[str, tuple[str, int]] = {}
    if workplaces is not None:
        vpn = {p.asset_tag: str(p.address) for p in workplaces.vpn.peers}
        dhcp = {r.asset_tag: (str(r.address), s.subnet.prefixlen)
                for s in workplaces.dhcp.subnets for r in s.reservations}
    out: list[NbObject] = []
    for partner in region.partners:
        tenant = ref(ObjectKind.NB_TENANT, partner.code)
        for device in partner.devices:
            name = device.asset_tag
            site = device.site or partner.sites[0].code
            out.append(NbObject(ObjectKind.NB_DEVICE, name, partner.code, {
                "name": name, "device_type": ref(ObjectKind.NB_DEVICE_TYPE,
                                                 DEVICE_TYPES[device.kind]),
                "role": ref(ObjectKind.NB_DEVICE_ROLE, DEVICE_ROLES[device.kind]),
                "site": ref(ObjectKind.NB_SITE, site), "tenant": tenant, "status": "active",
                "tags": [OWNER_TAG], "primary_ip4": None,
                "custom_fields": {"ssc_employee_id": device.employee_id,
                                  "ssc_wg_public_key": device.wg_public_key,
                                  "ssc_roaming": device.site is None, "ssc_roles": None}}))
            if device.mac:
                mac = device.mac.upper()
                out.append(NbObject(ObjectKind.NB_MAC, mac, partner.code, {
                    "mac_address": mac, "tags": [OWNER_TAG]}))
            interfaces: list[tuple[str, str, str | None]] = \
                [(LAN_INTERFACE, "1000base-t", device.mac)] if device.mac else []
            if name in vpn:
                interfaces.append((VPN_INTERFACE, "virtual", None))
            for interface, kind, mac_address in interfaces:
                out.append(NbObject(ObjectKind.NB_INTERFACE, f"{name}/{interface}",
                                    partner.code, {
                    "device": ref(ObjectKind.NB_DEVICE, name), "name": interface, "type": kind,
                    "primary_mac_address": ref(ObjectKind.NB_MAC, mac_address.upper())
                    if mac_address else None, "tags": [OWNER_TAG]}))
            if name in dhcp and device.mac:
                address, length = dhcp[name]
                out.append(_address(partner.code, address, length, f"{name}/{LAN_INTERFACE}",
                                    f"DHCP reservation of {name}"))
            if name in vpn:
                out.append(_address(partner.code, vpn[name], VPN_NETWORK.prefixlen,
                                    f"{name}/{VPN_INTERFACE}", f"VPN address of {name}"))
    return out


def _address(partner: str, address: str, length: int, interface: str,
             description: str) -> NbObject:
    return NbObject(ObjectKind.NB_IP, address, partner, {
        "address": f"{address}/{length}", "status": "active",
        "tenant": ref(ObjectKind.NB_TENANT, partner), "assigned_object_type": "dcim.interface",
        "assigned_object_id": ref(ObjectKind.NB_INTERFACE, interface),
        "description": description, "tags": [OWNER_TAG]})


# -- NetBox -> inventory documents ------------------------------------------------------


@dataclass(frozen=True)
class Documents:
    """The inventory as NetBox holds it, in the files' shapes, and where each came from.

    `origin` names the NetBox object behind each document and device row, for messages:
    ("region.yaml", 0) -> "tenant group frl (/tenancy/tenant-groups/3/)",
    ("devices/ameland.csv", 2) -> the device of that row.
    """

    region: dict[str, Any]
    partners: dict[str, dict[str, Any]]  # code -> the partner file
    devices: dict[str, list[dict[str, str]]]  # code -> the device list's rows
    origin: dict[tuple[str, int], str]


DEVICE_COLUMNS = ("asset_tag", "kind", "employee_id", "site", "mac", "wg_public_key")


def inventory_documents(group: Mapping[str, Any], tenants: Iterable[Mapping[str, Any]],
                        sites: Iterable[Mapping[str, Any]], vlans: Iterable[Mapping[str, Any]],
                        prefixes: Iterable[Mapping[str, Any]],
                        devices: Iterable[Mapping[str, Any]],
                        interfaces: Iterable[Mapping[str, Any]], base_url: str) -> Documents:
    """The inventory documents from NetBox's objects as its API returns them (plain dicts).

    Objects are taken as they are, odd values too: the files loader checks them.
    """
    origin: dict[tuple[str, int], str] = {}

    def where(kind: str, obj: Mapping[str, Any]) -> str:
        return f"NetBox {kind} {obj.get('display') or obj.get('name')!s} ({_ui_url(obj, base_url)})"

    settings = dict((group.get("custom_fields") or {}).get("ssc_region") or {})
    origin[("region.yaml", 0)] = where("tenant group", group)
    region_code = str(group.get("slug", ""))
    infra = infra_slug(region_code)
    by_site_vlan = {_id(v.get("site")): v for v in vlans if _id(v.get("site")) is not None}
    by_site_prefix = {p.get("scope_id"): p for p in prefixes
                      if p.get("scope_type") == "dcim.site"}
    mac_of = {(_id(i.get("device")), i.get("name")): i.get("mac_address") for i in interfaces}
    tenant_slug = {t.get("id"): str(t.get("slug", "")) for t in tenants}
    partner_sites: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    site_slug: dict[Any, str] = {}
    for site in sites:
        site_slug[site.get("id")] = str(site.get("slug", ""))
        owner = tenant_slug.get(_id(site.get("tenant")))
        if owner is None:
            continue
        cf = site.get("custom_fields") or {}
        vlan = by_site_vlan.get(site.get("id")) or {}
        prefix = by_site_prefix.get(site.get("id")) or {}
        entry: dict[str, Any] = {
            "code": site.get("slug"), "name": site.get("name"), "vlan": vlan.get("vid"),
            "subnet": prefix.get("prefix"), "flex_desks": cf.get("ssc_flex_desks") or 0,
            "shared": SHARED_SITE_TAG in _tags(site)}
        position = cf.get("ssc_position")
        partner_sites.setdefault(owner, []).append(
            (position if isinstance(position, int) else 1 << 30, entry))
    hosts: dict[str, Any] = {}
    rows: dict[str, list[dict[str, str]]] = {code: [] for code in tenant_slug.values()}
    roles = {DEVICE_ROLES[k]: k for k in DeviceKind}
    for device in sorted(devices, key=lambda d: str(d.get("name") or "")):
        cf = device.get("custom_fields") or {}
        role = str((device.get("role") or {}).get("slug", ""))
        owner = tenant_slug.get(_id(device.get("tenant")))
        if owner is None:
            if _slug(device.get("site")) == infra and role in {r.value for r in HostRole}:
                primary = (device.get("primary_ip4") or {}).get("address") or ""
                host_roles = cf.get("ssc_roles")
                hosts[str(device.get("name"))] = {
                    "roles": host_roles if isinstance(host_roles, list) else [role],
                    "address": str(primary).split("/")[0] or None}
            continue
        if role not in roles:
            continue  # a switch, a printer: not a workplace device
        row = {
            "asset_tag": str(device.get("name") or ""), "kind": roles[role].value,
            "employee_id": _text(cf.get("ssc_employee_id")),
            "site": "" if cf.get("ssc_roaming") else site_slug.get(_id(device.get("site")), ""),
            "mac": _text(mac_of.get((device.get("id"), LAN_INTERFACE))).lower(),
            "wg_public_key": _text(cf.get("ssc_wg_public_key")),
        }
        rows[owner].append(row)
        origin[(f"devices/{owner}.csv", len(rows[owner]) + 1)] = where("device", device)
    region: dict[str, Any] = {**settings, "hosts": hosts}
    if "region" not in settings:
        region["region"] = {"code": region_code, "name": group.get("name")}
    partners: dict[str, dict[str, Any]] = {}
    for tenant in tenants:
        code = str(tenant.get("slug", ""))
        cf = tenant.get("custom_fields") or {}
        quota = cf.get("ssc_quota_users")
        partners[code] = {
            "code": code, "name": tenant.get("name"), "kind": cf.get("ssc_kind"),
            "upn_suffix": cf.get("ssc_upn_suffix"), "identity": cf.get("ssc_identity"),
            "services": cf.get("ssc_services") if cf.get("ssc_services") is not None else [],
            "quota": {"users": quota},
            "sites": [entry for _, entry in sorted(partner_sites.get(code, []),
                                                   key=lambda s: s[0])],
            "people": cf.get("ssc_people") or people_file(code),
            "devices": f"devices/{code}.csv",
        }
        lifecycle = cf.get("ssc_lifecycle")
        if isinstance(lifecycle, Mapping):  # the loader checks what is in it
            partners[code].update({k: v for k, v in lifecycle.items()
                                   if k in ("offboarded", "merged", "merged_from")})
        origin[(f"partners/{code}.yaml", 0)] = where("tenant", tenant)
    return Documents(region, partners, rows, origin)


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, Mapping) else value


def _slug(value: Any) -> str:
    return str(value.get("slug", "")) if isinstance(value, Mapping) else ""


def _tags(obj: Mapping[str, Any]) -> set[str]:
    return {str(t.get("slug")) for t in obj.get("tags") or [] if isinstance(t, Mapping)}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _ui_url(obj: Mapping[str, Any], base_url: str) -> str:
    """The object's page in the web UI: its API URL without /api."""
    url = str(obj.get("display_url") or obj.get("url") or "")
    return url.replace("/api/", "/", 1) if url else base_url
