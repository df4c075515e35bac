"""The Graph client's login: MSAL's client-credentials flow with a secret or a certificate.

MSAL gets its own `requests` session with `trust_env=False`, or REQUESTS_CA_BUNDLE would
override the CA given for a private (lab) login server, and a timeout, which MSAL sets on no
session it is given. The token is cached and renewed by MSAL; `renew` forgets it after a 401.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ssc_infra.core.errors import BackendError

if TYPE_CHECKING:
    from ssc_infra.m365.settings import GraphSettings


class LoginError(BackendError):
    """The login failed; the message names the tenant and what to check, never the secret."""


class Login:
    """MSAL's client-credentials flow; MSAL caches the token and renews it before it expires."""

    def __init__(self, settings: GraphSettings) -> None:
        self._settings = settings
        self._app: Any = None  # made on first use: MSAL reads the authority's metadata then
        self._session = _Session(settings.timeout)
        self._session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
        self._session.verify = settings.ca_file or True

    def token(self) -> str:
        s = self._settings
        where = f"login at {s.login_url} for tenant {s.tenant_id}"
        try:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    s.client_id, client_credential=_credential(s),
                    authority=f"{s.login_url.rstrip('/')}/{s.tenant_id}",
                    instance_discovery=False, http_client=self._session)
            answer = self._app.acquire_token_for_client(
                scopes=[f"{s.graph_url.rstrip('/')}/.default"])
        except requests.exceptions.SSLError as e:
            raise LoginError(f"{where}: the TLS handshake failed: check ca_file in the "
                             "target") from e
        except requests.RequestException as e:
            raise LoginError(f"{where}: no answer ({type(e).__name__}): is login_url in the "
                             "target right?") from e
        except ValueError as e:  # MSAL: the authority's metadata, or an unusable credential
            raise LoginError(f"{where}: {e}; check login_url and tenant_id in the target") from e
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            error = answer.get("error") if isinstance(answer, dict) else None
            text = answer.get("error_description") if isinstance(answer, dict) else None
            first = str(text or "no description").strip().splitlines()[0]
            raise LoginError(f"{where}: client {s.client_id} refused ({error}: {first}): check "
                             "client_id and the secret or certificate_file in the target")
        return str(token)

    def renew(self) -> None:
        """Forget the cached token, so the next request logs in again."""
        if self._app is not None:
            cache = self._app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)

    def close(self) -> None:
        self._session.close()


class _Session(requests.Session):
    """A session with a timeout: MSAL sets none on a session it is given."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def _credential(settings: GraphSettings) -> str | dict[str, str]:
    if (settings.secret is None) == (settings.certificate_file is None):
        raise LoginError(f"Graph client {settings.client_id}: give exactly one of a client "
                         "secret and certificate_file in the target")
    if settings.secret is not None:
        return settings.secret.reveal()
    path = Path(str(settings.certificate_file))
    try:
        data = path.read_bytes()
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as e:
        raise LoginError(f"certificate_file {path}: not a readable PEM with an unencrypted "
                         f"private key and its certificate ({type(e).__name__})") from e
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LoginError(f"certificate_file {path}: the key is {type(key).__name__}; Entra ID "
                         "takes RSA keys only")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return {"private_key": pem.decode(), "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}
