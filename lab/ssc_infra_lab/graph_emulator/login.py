"""The emulated Microsoft identity platform, client-credentials flow only: the OpenID
configuration MSAL reads, the v2.0 token endpoint, and the check of the bearer token on every
Graph request.

Access tokens are JWTs signed with HS256 under a key derived from the emulator's client
secret (real Entra signs RS256 with published keys; clients must treat tokens as opaque
anyway). A certificate credential (`client_assertion`) is checked for its structure only: a
JWT with a header naming a certificate (x5t, x5t#S256 or kid), issuer and subject equal to the
client id, an audience that is a token endpoint and an expiry in the future. Its signature is
NOT verified, so the emulator cannot tell a foreign certificate from the registered one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ssc_infra_lab.emulator_server import Reply
from ssc_infra_lab.graph_emulator.model import GraphError

GRAPH_RESOURCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME = 3599


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_part(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_unb64(text))
    except (binascii.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Login:
    """Tokens for the emulator's one multi-tenant app registration.

    Args:
        client_id: the app's client id.
        secret: its client secret; also the root of the token signing key.
        login_url: the emulated login host, e.g. "https://127.0.0.1:8443".
        graph_url: the emulated Graph base (a token's audience).
        tenant_of: the tenant id for a tenant id or one of its domains, or None.
        wall_clock: seconds since the epoch (token lifetimes are real time, not the
            emulator's throttling clock).
    """

    def __init__(self, client_id: str, secret: str, login_url: str, graph_url: str,
                 tenant_of: Callable[[str], str | None],
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self._secret = secret
        self._key = hashlib.sha256(b"ssc-infra graph emulator token key\0" +
                                   secret.encode()).digest()
        self.login_url = login_url
        self.graph_url = graph_url
        self._tenant_of = tenant_of
        self._now = wall_clock

    # ---- the login endpoints -------------------------------------------------------------

    def _aad_error(self, status: int, error: str, code: int, description: str) -> Reply:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return Reply(status, {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
                                 f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [code], "timestamp": stamp, "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{self.login_url}/error?code={code}"})

    def _unknown_tenant(self, ref: str) -> Reply:
        return self._aad_error(400, "invalid_tenant", 90002, f"Tenant '{ref}' not found. "
                               "Check to make sure you have the correct tenant ID and are "
                               "signing into the correct cloud. (Graph emulator: add_tenant "
                               "it first.)")

    def openid_configuration(self, ref: str) -> Reply:
        """GET {login_url}/{tenant}/v2.0/.well-known/openid-configuration."""
        tenant_id = self._tenant_of(ref)
        if tenant_id is None:
            return self._unknown_tenant(ref)
        base = f"{self.login_url}/{ref}"
        return Reply(200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "jwks_uri": f"{self.login_url}/{tenant_id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.login_url}/{tenant_id}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "graph-emulator.invalid",
            "msgraph_host": self.graph_url.removeprefix("https://"),
        })

    def token(self, ref: str, form: Mapping[str, str]) -> Reply:
        """POST {login_url}/{tenant}/oauth2/v2.0/token, client credentials only."""
        tenant_id = self._tenant_of(ref)
        if tenant_id is None:
            return self._unknown_tenant(ref)
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type "
                                   f"'{form.get('grant_type', '')}'. The Graph emulator knows "
                                   "only client_credentials.")
        client_id = form.get("client_id", "")
        if client_id != self.client_id:
            return self._aad_error(400, "unauthorized_client", 700016,
                                   f"Application with identifier '{client_id}' was not found "
                                   f"in the directory '{ref}'.")
        refused = self._credential_refused(form, ref)
        if refused is not None:
            return refused
        scopes = form.get("scope", "").split()
        defaults = [s for s in scopes if s.endswith("/.default")]
        if len(defaults) != 1 or len(scopes) != 1:
            return self._aad_error(400, "invalid_scope", 1002012,
                                   f"The provided value for scope {' '.join(scopes)} is not "
                                   "valid. Client credential flows must have a scope value "
                                   "with /.default suffixed to the resource identifier "
                                   "(application ID URI).")
        resource = defaults[0].removesuffix("/.default")
        if resource.rstrip("/") not in (self.graph_url, *GRAPH_RESOURCES):
            return self._aad_error(400, "invalid_resource", 500011,
                                   f"The resource principal named {resource} was not found in "
                                   f"the tenant named {ref}.")
        return Reply(200, {"token_type": "Bearer", "expires_in": LIFETIME,
                           "ext_expires_in": LIFETIME,
                           "access_token": self.mint(tenant_id, resource.rstrip("/"))})

    def _credential_refused(self, form: Mapping[str, str], ref: str) -> Reply | None:
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        if secret is not None:
            if hmac.compare_digest(secret.encode(), self._secret.encode()):
                return None
            return self._aad_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being "
                                   "sent in the request is the client secret value, not the "
                                   f"client secret ID, for a secret added to app "
                                   f"'{self.client_id}'.")
        if assertion is None:
            return self._aad_error(401, "invalid_client", 7000218,
                                   "The request body must contain the following parameter: "
                                   "'client_assertion' or 'client_secret'.")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return self._aad_error(400, "invalid_request", 50027,
                                   "Invalid client_assertion_type; expected "
                                   f"{ASSERTION_TYPE}.")
        parts = assertion.split(".")
        header = _json_part(parts[0]) if len(parts) == 3 and parts[2] else None
        claims = _json_part(parts[1]) if header is not None else None
        if header is None or claims is None or "alg" not in header or \
                not any(k in header for k in ("x5t", "x5t#S256", "kid")):
            return self._aad_error(400, "invalid_request", 50027,
                                   "JWT token is invalid or malformed.")
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return self._aad_error(401, "invalid_client", 700021,
                                   "Client assertion application identifier doesn't match "
                                   "'client_id' parameter.")
        audience = claims.get("aud")
        if not isinstance(audience, str) or not audience.endswith("/oauth2/v2.0/token"):
            return self._aad_error(401, "invalid_client", 50027,
                                   "Client assertion audience claim does not name the token "
                                   "endpoint.")
        expiry = claims.get("exp")
        if not isinstance(expiry, int | float) or expiry <= self._now():
            return self._aad_error(401, "invalid_client", 700024,
                                   "Client assertion is not within its valid time range.")
        return None

    # ---- access tokens -------------------------------------------------------------------

    def mint(self, tenant_id: str, audience: str) -> str:
        now = int(self._now())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"aud": audience, "iss": f"https://sts.windows.net/{tenant_id}/",
                  "iat": now, "nbf": now, "exp": now + LIFETIME, "appid": self.client_id,
                  "tid": tenant_id, "idtyp": "app", "ver": "1.0", "roles": [],
                  "uti": str(uuid.uuid4()), "emulator": "ssc-infra Microsoft Graph emulator"}
        signing_input = f"{_b64(json.dumps(header).encode())}." \
                        f"{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def verify(self, authorization: str | None) -> str:
        """The tenant id of a Graph request's bearer token.

        Raises:
            GraphError: 401 InvalidAuthenticationToken, as Graph answers.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._invalid("Access token is empty.")
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise self._invalid("IDX14100: JWT is not well formed, there are no dots (.).")
        claims = _json_part(parts[1])
        try:
            signature = _unb64(parts[2])
        except (binascii.Error, ValueError):
            signature = b""
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(),
                            hashlib.sha256).digest()
        if claims is None or not hmac.compare_digest(signature, expected):
            raise self._invalid("Access token validation failure. Invalid signature.")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._now():
            raise self._invalid("Lifetime validation failed, the token is expired.")
        if str(claims.get("aud", "")).rstrip("/") not in (self.graph_url, *GRAPH_RESOURCES):
            raise self._invalid("Access token validation failure. Invalid audience.")
        tenant_id = str(claims.get("tid", ""))
        if self._tenant_of(tenant_id) != tenant_id:
            raise self._invalid("The tenant of the access token is not known to this Graph "
                                "emulator.")
        return tenant_id

    def _invalid(self, message: str) -> GraphError:
        header = (f'Bearer realm="", authorization_uri="{self.login_url}/common/oauth2/'
                  f'authorize", client_id="{GRAPH_RESOURCES[1]}"')
        return GraphError(401, "InvalidAuthenticationToken", message,
                          headers={"WWW-Authenticate": header})
