"""Desired state -> what each workplace host must hold: shares and homes, VPN peers, DHCP
subnets and reservations, RADIUS VLANs, VDI pools. Pure, no I/O.

Every host of a role gets the same region-wide configuration; `ssc_infra.hosts.render` turns it into
files. Cost grows with the number of hosts, never with the number of people: one file per
host and role, and one list of home directories that a single module call handles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from ssc_infra.core.addresses import allocate
from ssc_infra.core.bulk import no_cycle_collection
from ssc_infra.core.desired import DesiredState
from ssc_infra.core.model import DeviceKind, Identity, Partner, Region, ServiceKind, Site, Workplace

VPN_NETWORK = IPv4Network("10.250.0.0/16")  # the tunnel addresses of all laptops
VPN_PORT = 51820
HOMES_DIR = "/srv/homes"
SHARES_DIR = "/srv/shares"
ARCHIVE_DIR = "/srv/archive/homes"
IDMAP_RANGE = "100000-999999"


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    partner: str
    path: str
    group: str  # the partner's everyone-group: only its own people see the share
    comment: str


@dataclass(frozen=True, slots=True)
class Home:
    partner: str
    name: str  # the sAMAccountName, also the folder name
    owner: str  # as winbind shows it: WORKGROUP\name
    moved_from: str = ""  # a merge: the home is moved here from this partner's homes


@dataclass(frozen=True, slots=True)
class Fileserver:
    workgroup: str
    realm: str
    shares: tuple[Share, ...]
    homes: tuple[Home, ...]
    partners: tuple[str, ...]  # whose homes this server keeps (AD partners only)


@dataclass(frozen=True, slots=True)
class VpnPeer:
    partner: str
    employee_id: str
    asset_tag: str
    public_key: str
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class Vpn:
    network: IPv4Network
    address: IPv4Address  # the gateway's own tunnel address
    port: int
    peers: tuple[VpnPeer, ...]


@dataclass(frozen=True, slots=True)
class Reservation:
    partner: str
    asset_tag: str
    mac: str
    address: IPv4Address

    @property
    def hostname(self) -> str:
        return self.asset_tag.lower()


@dataclass(frozen=True, slots=True)
class DhcpSubnet:
    id: int
    site: str
    partner: str
    subnet: IPv4Network
    router: IPv4Address
    pool_start: IPv4Address
    pool_end: IPv4Address
    reservations: tuple[Reservation, ...]


@dataclass(frozen=True, slots=True)
class Dhcp:
    domain: str
    subnets: tuple[DhcpSubnet, ...]


@dataclass(frozen=True, slots=True)
class RadiusRealm:
    partner: str
    suffix: str  # people sign in as name@suffix: the suffix picks the partner's VLAN
    vlan: int


@dataclass(frozen=True, slots=True)
class RadiusDevice:
    partner: str
    asset_tag: str
    mac: str  # lower case, no separators: how switches send it for MAC authentication
    vlan: int


@dataclass(frozen=True, slots=True)
class Radius:
    realms: tuple[RadiusRealm, ...]
    devices: tuple[RadiusDevice, ...]


@dataclass(frozen=True, slots=True)
class VdiPool:
    name: str
    partner: str
    group: str
    apps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VdiAssignment:
    upn: str
    sam: str
    partner: str
    pool: str


@dataclass(frozen=True, slots=True)
class Vdi:
    region: str
    pools: tuple[VdiPool, ...]
    assignments: tuple[VdiAssignment, ...]


@dataclass(frozen=True, slots=True)
class Workplaces:
    fileserver: Fileserver
    vpn: Vpn
    dhcp: Dhcp
    radius: Radius
    vdi: Vdi

    def allocations(self) -> dict[str, dict[str, str]]:
        """The addresses handed out, to keep for the next run (see `ssc_infra.core.addresses`)."""
        return {
            "vpn": {p.asset_tag: str(p.address) for p in self.vpn.peers},
            "dhcp": {r.asset_tag: str(r.address) for s in self.dhcp.subnets
                     for r in s.reservations},
        }

    def allocations_typed(self) -> dict[str, dict[str, IPv4Address]]:
        """The same as `allocations`, as addresses: what `derive_workplaces` takes back."""
        return {kind: {tag: IPv4Address(a) for tag, a in by_tag.items()}
                for kind, by_tag in self.allocations().items()}


Allocations = Mapping[str, Mapping[str, IPv4Address]]


@no_cycle_collection()  # a big region: see core/bulk.py
def derive_workplaces(
    region: Region, desired: DesiredState, previous: Allocations | None = None
) -> Workplaces:
    """What the workplace hosts must hold for the desired state.

    Args:
        region: the validated inventory (sites, devices, services).
        desired: the desired state of the same region (who is current, their names).
        previous: addresses handed out by earlier runs, per kind ("vpn", "dhcp") and asset tag.
    """
    previous = previous or {}
    return Workplaces(
        fileserver=_fileserver(region, desired),
        vpn=_vpn(region, desired, previous.get("vpn", {})),
        dhcp=_dhcp(region, desired, previous.get("dhcp", {})),
        radius=_radius(region, desired),
        vdi=_vdi(region, desired),
    )


def _current_devices(region: Region, desired: DesiredState) -> dict[str, set[str]]:
    """Per partner, the asset tags of the devices of people who are current (not leavers)."""
    return {p.code: {tag for w in p.workplaces for tag in w.devices} for p in desired.partners}


def workgroup(region: Region) -> str:
    """The NetBIOS domain name: the first label of the DNS domain, upper case, at most 15."""
    return region.directory.domain.split(".")[0].upper()[:15]


def _fileserver(region: Region, desired: DesiredState) -> Fileserver:
    group = workgroup(region)
    ad_partners = [p for p in desired.partners if p.identity is Identity.HYBRID]
    # An offboarded partner's share is no longer served (its folder stays on disk); a merged
    # partner's is served to the partner it merged into, whose people have its files.
    by_code = {p.code: p for p in region.partners}
    shares = tuple(
        Share(p.code, p.code, f"{SHARES_DIR}/{p.code}", f"{_share_owner(by_code[p.code])}-all",
              f"Shared files of {p.name}")
        for p in ad_partners if by_code[p.code].offboarded is None
    )
    homes = tuple(
        Home(p.code, w.sam, f"{group}\\{w.sam}", w.moved_from)
        for p in ad_partners
        for w in sorted(p.workplaces, key=lambda w: w.sam)
    )
    return Fileserver(group, region.directory.domain.upper(), shares, homes,
                      tuple(p.code for p in ad_partners))


def _share_owner(partner: Partner) -> str:
    return partner.merged.into if partner.merged is not None else partner.code


def _vpn(region: Region, desired: DesiredState, previous: Mapping[str, IPv4Address]) -> Vpn:
    current = _current_devices(region, desired)
    laptops = [
        d for partner in region.partners for d in partner.devices
        if d.kind is DeviceKind.LAPTOP and d.wg_public_key and d.asset_tag in current[partner.code]
    ]
    size = VPN_NETWORK.num_addresses
    addresses = allocate((d.asset_tag for d in laptops), VPN_NETWORK, 16, size - 2, previous,
                         hint="that is every laptop of the region (one VPN network for all "
                         "partners): fewer laptops with a WireGuard key, or a VPN gateway of "
                         "its own for a group of partners (not supported yet)")
    peers = tuple(
        VpnPeer(d.partner, d.employee_id, d.asset_tag, d.wg_public_key or "",
                addresses[d.asset_tag])
        for d in sorted(laptops, key=lambda d: (d.partner, d.asset_tag))
    )
    return Vpn(VPN_NETWORK, VPN_NETWORK.network_address + 1, VPN_PORT, peers)


def _dhcp(region: Region, desired: DesiredState, previous: Mapping[str, IPv4Address]) -> Dhcp:
    current = _current_devices(region, desired)
    # A thin client's reservation lives in the subnet of the VLAN RADIUS puts it on
    # (`device_site`): at another partner's shared flex site not that site's subnet but its own
    # partner's. The two files must agree or the client gets no address.
    by_site: dict[str, list[tuple[str, str, str]]] = {}
    for partner in region.partners:
        for d in partner.devices:
            if d.kind is DeviceKind.THIN_CLIENT and d.mac and d.site \
                    and d.asset_tag in current[partner.code]:
                site = device_site(region, partner.code, d.site)
                by_site.setdefault(site.code, []).append((partner.code, d.asset_tag, d.mac))
    subnets = []
    for partner in region.partners:
        for site in partner.sites:
            net = site.subnet
            size = net.num_addresses
            clients = by_site.get(site.code, [])
            addresses = allocate((tag for _, tag, _ in clients), net,
                                 *reservation_offsets(net), previous)
            reservations = tuple(
                Reservation(owner, tag, mac.lower(), addresses[tag])
                for owner, tag, mac in sorted(clients, key=lambda c: c[1])
            )
            subnets.append(DhcpSubnet(
                id=_subnet_id(net), site=site.code, partner=partner.code, subnet=net,
                router=net.network_address + 1, pool_start=net.network_address + 10,
                pool_end=net.network_address + size // 4 - 1, reservations=reservations,
            ))
    return Dhcp(region.directory.domain, tuple(subnets))


def reservation_offsets(net: IPv4Network) -> tuple[int, int]:
    """The first and last offset of a site's subnet that hold its thin clients' reservations:
    the first quarter is the dynamic pool (after room for gateways and switches), the rest up
    to the broadcast address holds the reservations."""
    size = net.num_addresses
    return size // 4, size - 2


def _subnet_id(net: IPv4Network) -> int:
    """Kea's subnet id: stable for a subnet, so leases survive a reordering of the sites."""
    return (int(net.network_address) >> 8) % 4_000_000_000 + 1


def partner_vlan(region: Region, partner: str) -> int:
    """A partner's own VLAN: that of its first site. Shared flex sites carry every partner's."""
    return region.partner(partner).sites[0].vlan


def device_site(region: Region, partner: str, site: str) -> Site:
    """The site whose VLAN RADIUS puts a device of `partner` placed at `site` on, and in whose
    subnet DHCP reserves its address.

    At one of its own partner's sites, that site: a partner's other sites need not carry its
    first site's VLAN. At another partner's (shared flex) site, the partner's own VLAN, which
    every shared site carries: that of its first site (`partner_vlan`).
    """
    return reservation_site(region.partner(partner).sites, site)


def reservation_site(own: Sequence[Site], site: str) -> Site:
    """`device_site` given the partner's own sites (its first is its home VLAN's)."""
    return next((s for s in own if s.code == site), own[0])


def _radius(region: Region, desired: DesiredState) -> Radius:
    current = _current_devices(region, desired)
    # A partner offboarded or merged into another has nobody to sign in any more.
    realms = tuple(RadiusRealm(p.code, p.upn_suffix, partner_vlan(region, p.code))
                   for p in region.partners if p.active)
    devices = tuple(
        RadiusDevice(p.code, d.asset_tag, (d.mac or "").replace(":", "").lower(),
                     device_site(region, p.code, d.site or "").vlan)
        for p in region.partners
        for d in sorted(p.devices, key=lambda d: d.asset_tag)
        if d.kind is DeviceKind.THIN_CLIENT and d.mac and d.asset_tag in current[p.code]
    )
    return Radius(realms, devices)


def _vdi(region: Region, desired: DesiredState) -> Vdi:
    pools: list[VdiPool] = []
    assignments: list[VdiAssignment] = []
    for partner, wanted in zip(region.partners, desired.partners, strict=True):
        if not partner.active:
            continue  # offboarded or merged: no desktops of its own any more
        apps = tuple(s for s in partner.services
                     if region.service(s).kind is ServiceKind.APPLICATION)
        pool = f"{partner.code}-desktop"
        pools.append(VdiPool(pool, partner.code, f"{partner.code}-all", apps))
        names = {a.employee_id: a.name for a in wanted.accounts}
        assignments.extend(
            VdiAssignment(names[w.employee_id].upn, w.sam, partner.code, pool)
            for w in sorted(wanted.workplaces, key=lambda w: w.sam)
            if w.workplace is Workplace.VDI
        )
    return Vdi(region.code, tuple(pools), tuple(assignments))
