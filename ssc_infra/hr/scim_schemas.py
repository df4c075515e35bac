"""What `ssc-infra hr serve` tells a SCIM client about itself (RFC 7643 5-7, RFC 7644 4):
its ServiceProviderConfig, its one resource type (User) and the schemas of the attributes it
keeps. Static, and only as much as a client needs to find its way; pure.
"""

from __future__ import annotations

from typing import Any

from ssc_infra.hr.scim import CORE, ENTERPRISE, MAX_PAGE, SSC, list_response

_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
_RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def _attribute(name: str, description: str, *, kind: str = "string", required: bool = False,
               unique: bool = False, sub: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name, "type": "complex" if sub else kind, "multiValued": False,
        "description": description, "required": required, "caseExact": False,
        "mutability": "readWrite", "returned": "default",
        "uniqueness": "server" if unique else "none"}
    if sub:
        found["subAttributes"] = sub
    return found


_SCHEMAS = {
    CORE: ("User", "A person of the partner, as its HR system has them", [
        _attribute("userName", "The employee id, unless the enterprise extension's "
                   "employeeNumber gives it", required=True, unique=True),
        _attribute("name", "The person's name", required=True, sub=[
            _attribute("givenName", "Given name", required=True),
            _attribute("familyName", "Surname; Dutch voorvoegsels are split off into the "
                       "infix unless the ssc-infra extension gives it", required=True)]),
        _attribute("title", "Job title"),
        _attribute("active", "false: the person has left (end date today, unless one is "
                   "given)", kind="boolean"),
    ]),
    ENTERPRISE: ("EnterpriseUser", "Enterprise User", [
        _attribute("employeeNumber", "The employee id (wins over userName)", unique=True),
        _attribute("department", "Department"),
    ]),
    SSC: ("SscInfraUser", "What the SSC's people file needs besides", [
        _attribute("infix", "The infix (tussenvoegsel), e.g. 'van der'"),
        _attribute("site", "The site code the person works at", required=True),
        _attribute("workplace", "vdi, laptop or thin_client", required=True),
        _attribute("startDate", "First working day, YYYY-MM-DD", required=True),
        _attribute("endDate", "Last working day, YYYY-MM-DD"),
    ]),
}


def service_provider_config(base: str) -> dict[str, Any]:
    """/ServiceProviderConfig: PATCH, filters and ETags; no bulk, sort or passwords."""
    return {
        "schemas": [_CONFIG],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_PAGE},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token", "primary": True,
            "description": "One token per partner, given by the SSC"}],
        "meta": {"resourceType": "ServiceProviderConfig",
                 "location": f"{base}/ServiceProviderConfig"},
    }


def resource_types(base: str) -> dict[str, dict[str, Any]]:
    """/ResourceTypes: id -> the resource type (User only)."""
    return {"User": {
        "schemas": [_RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
        "description": "A person of the partner", "schema": CORE,
        "schemaExtensions": [{"schema": ENTERPRISE, "required": False},
                             {"schema": SSC, "required": True}],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}}}


def schemas(base: str) -> dict[str, dict[str, Any]]:
    """/Schemas: id -> the schema, with the attributes the people file keeps."""
    return {urn: {"schemas": [_SCHEMA], "id": urn, "name": name, "description": description,
                  "attributes": attributes,
                  "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"}}
            for urn, (name, description, attributes) in _SCHEMAS.items()}


def listed(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """All of them in one ListResponse."""
    return list_response(list(resources.values()), len(resources), 1)
