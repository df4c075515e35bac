"""A partner's own bind account, delegated by the DC's security descriptors (BIO 5.15, 8.02):
rights to create, change, move and disable users and groups in that partner's OUs, and nowhere
else. With it, a run for that partner cannot write another partner's objects or a privileged
group even if the tool tried: the DC refuses.

`delegation_aces` says which access-control entries a partner's OU gets (pure); `add_aces`
inserts them into a DACL in its binary form (pure: the self-relative SECURITY_DESCRIPTOR of
MS-DTYP 2.4.6, ACL 2.4.5, ACCESS_ALLOWED_OBJECT_ACE 2.4.4.3); `delegate` reads and writes the
OUs' `nTSecurityDescriptor` over LDAP with the SD-flags control (the DACL only), so the same
works on Windows AD and Samba.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import ldap3
from ldap3.protocol.microsoft import security_descriptor_control
from ldap3.utils.conv import escape_filter_chars

from ssc_infra.ad.read import Reader
from ssc_infra.core.dn import escape_rdn
from ssc_infra.core.errors import BackendError

DACL_ONLY = 0x4  # SD flags: the DACL, nothing else (no owner, group or SACL rights needed)
ACL_REVISION_DS = 4  # an ACL with object ACEs
ACCESS_ALLOWED_OBJECT_ACE_TYPE = 0x05
CONTAINER_INHERIT_ACE = 0x02
INHERIT_ONLY_ACE = 0x08
INHERITED_ACE = 0x10
ACE_OBJECT_TYPE_PRESENT = 0x1
ACE_INHERITED_OBJECT_TYPE_PRESENT = 0x2
SE_DACL_PRESENT = 0x0004
# Rights (MS-ADTS 5.1.3.2): create and delete children of a class; on an object below, every
# right but changing its security descriptor or owner: read and write properties, extended
# rights (reset a password), delete (a move), list, read its permissions.
CREATE_DELETE_CHILD = 0x0000_0003
OBJECT_RIGHTS = 0x0000_01FF | 0x0001_0000 | 0x0002_0000  # DS rights | DELETE | READ_CONTROL


@dataclass(frozen=True, slots=True)
class Delegated:
    """What `delegate` did to one OU."""

    dn: str
    added: int  # entries added; 0 when they were all there already


def object_ace(mask: int, flags: int, sid: bytes, object_type: uuid.UUID | None = None,
               inherited_type: uuid.UUID | None = None) -> bytes:
    """An ACCESS_ALLOWED_OBJECT_ACE."""
    present = (ACE_OBJECT_TYPE_PRESENT if object_type else 0) | \
        (ACE_INHERITED_OBJECT_TYPE_PRESENT if inherited_type else 0)
    body = struct.pack("<II", mask, present)
    if object_type:
        body += object_type.bytes_le
    if inherited_type:
        body += inherited_type.bytes_le
    body += sid
    return struct.pack("<BBH", ACCESS_ALLOWED_OBJECT_ACE_TYPE, flags, 4 + len(body)) + body


def delegation_aces(sid: bytes, classes: Sequence[uuid.UUID]) -> list[bytes]:
    """The entries a partner's OU gets for the account `sid`, per object class (user, group):
    create and delete such children here and in the OUs below; every right but the security
    descriptor's on the objects of that class below."""
    aces: list[bytes] = []
    for cls in classes:
        aces.append(object_ace(CREATE_DELETE_CHILD, CONTAINER_INHERIT_ACE, sid, object_type=cls))
        aces.append(object_ace(OBJECT_RIGHTS, CONTAINER_INHERIT_ACE | INHERIT_ONLY_ACE, sid,
                               inherited_type=cls))
    return aces


def add_aces(descriptor: bytes, new: Sequence[bytes]) -> tuple[bytes, int]:
    """The security descriptor with the entries of `new` it lacks, before its first inherited
    entry (the canonical order: explicit entries first); and how many were added.

    Raises:
        ValueError: not a self-relative security descriptor with a DACL.
    """
    if len(descriptor) < 20:
        raise ValueError("a security descriptor is at least 20 bytes")
    revision, _, control, owner, group, sacl, dacl = struct.unpack_from("<BBHIIII", descriptor)
    if revision != 1 or not control & SE_DACL_PRESENT or not dacl:
        raise ValueError("no DACL in the security descriptor")
    if dacl + 8 > len(descriptor):
        raise ValueError("the DACL lies beyond the descriptor")
    acl_revision, _, acl_size, count, _ = struct.unpack_from("<BBHHH", descriptor, dacl)
    if dacl + acl_size > len(descriptor):
        raise ValueError("the DACL is cut off")
    aces: list[bytes] = []
    offset = dacl + 8
    for _ in range(count):
        size = struct.unpack_from("<H", descriptor, offset + 2)[0]
        if size < 8 or offset + size > dacl + acl_size:
            raise ValueError("a damaged access-control entry")
        aces.append(descriptor[offset:offset + size])
        offset += size
    missing = [ace for ace in new if ace not in aces]
    if not missing:
        return descriptor, 0
    first_inherited = next((i for i, ace in enumerate(aces) if ace[1] & INHERITED_ACE),
                           len(aces))
    aces[first_inherited:first_inherited] = missing
    body = b"".join(aces)
    acl = struct.pack("<BBHHH", max(acl_revision, ACL_REVISION_DS), 0, 8 + len(body),
                      len(aces), 0) + body
    # rebuilt with the DACL last: the other parts keep their bytes, at their offsets
    rest = bytearray(descriptor[:dacl] if dacl >= 20 else descriptor[:20])
    if dacl < max(owner, group, sacl):
        raise ValueError("a DACL before the other parts of the descriptor: not rewritten")
    rest[16:20] = struct.pack("<I", len(rest))
    return bytes(rest) + acl, len(missing)


def delegate(conn: ldap3.Connection, base_dn: str, ous: Sequence[str],
             account: str) -> list[Delegated]:
    """Give `account` (a sAMAccountName) the partner rights on each OU of `ous`.

    Raises:
        BackendError: the account or an OU is not there, or the DC refuses the change (the
            bind account needs the right to change the OUs' permissions).
    """
    reader = Reader(conn)
    found = reader.search(base_dn, f"(sAMAccountName={escape_filter_chars(account)})",
                          ("objectSid",))
    if len(found) != 1:
        raise BackendError(f"no account {account!r} in {base_dn}: make it first (a user in "
                           "CN=Users, no group memberships), then delegate to it")
    sid = bytes(found[0]["raw_attributes"]["objectSid"][0])  # the binary form a DACL holds
    aces = delegation_aces(sid, [_class_guid(reader, base_dn, "user"),
                                 _class_guid(reader, base_dn, "group")])
    done: list[Delegated] = []
    control = security_descriptor_control(sdflags=DACL_ONLY)
    for dn in ous:
        conn.search(dn, "(objectClass=organizationalUnit)", ldap3.BASE,
                    attributes=["nTSecurityDescriptor"], controls=control)
        entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
        if not entries:
            raise BackendError(f"{dn} is not in the directory: apply the whole region first "
                               "(it makes every partner's OUs), then delegate")
        raw = entries[0]["raw_attributes"].get("nTSecurityDescriptor") or [b""]
        try:
            descriptor, added = add_aces(raw[0], aces)
        except ValueError as e:
            raise BackendError(f"{dn}: its security descriptor cannot be read ({e})") from e
        if added and not conn.modify(dn, {"nTSecurityDescriptor": [
                (ldap3.MODIFY_REPLACE, [descriptor])]}, controls=control):
            raise BackendError(f"the DC refused the delegation on {dn}: "
                               f"{conn.result.get('description')} "
                               f"{conn.result.get('message', '')}".strip())
        done.append(Delegated(dn, added))
    return done


def partner_ous(base_dn: str, partners_ou: str, leavers_ou: str, partner: str) -> list[str]:
    """A partner's own OU and its OU among the leavers: where its objects live."""
    code = escape_rdn(partner)
    return [f"OU={code},{partners_ou},{base_dn}", f"OU={code},{leavers_ou},{base_dn}"]


def _class_guid(reader: Reader, base_dn: str, name: str) -> uuid.UUID:
    schema = f"CN=Schema,CN=Configuration,{base_dn}"
    found = reader.search(schema, f"(&(objectClass=classSchema)(lDAPDisplayName={name}))",
                          ("schemaIDGUID",))
    if len(found) != 1:
        raise BackendError(f"no class {name!r} in the schema of {base_dn}")
    value = found[0]["raw_attributes"]["schemaIDGUID"][0]
    return uuid.UUID(bytes_le=bytes(value))
