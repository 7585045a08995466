"""The Azure box's sign-in: a directory of principals, the bearer tokens issued to them, and
an AD FS token endpoint for the operator.

Why AD FS: azure-identity signs a service principal in through MSAL, which for any authority
host it does not know asks login.microsoftonline.com whether the host is genuine (instance
discovery), a packet off this machine. For the tenant `adfs` (Azure Stack Hub's sign-in in a
disconnected datacentre) it asks nothing and reads the authority's own OpenID configuration,
so the operator's plain `EnvironmentCredential` (AZURE_CLIENT_ID / AZURE_CLIENT_SECRET /
AZURE_TENANT_ID=adfs / AZURE_AUTHORITY_HOST=https://CORE_IP) signs in here as on Azure Stack.

One token table for both services: tokens are the Blob fake's `BlobWorld.issue_token`, so the
Blob service knows whom each acts for; the audience each was issued for (the `resource` of a
managed identity's IMDS request, the scope of a client-credentials grant) is kept here, and
the Resource Manager front refuses tokens issued for another service, as ARM does.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
import uuid
from dataclasses import dataclass

from tests.azure.fake_blob.world import BlobWorld
from tests.support.http_fake import HttpReply, HttpRequest

TENANT = "adfs"
PREFIX = f"/{TENANT}"
TOKEN_LIFETIME_S = 3599
# Scopes MSAL adds to every request that name no resource.
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}


@dataclass(frozen=True)
class Application:
    """A service principal signing in with a client secret."""

    name: str
    client_id: str
    object_id: str
    secret: str


def _json(status: int, body: object) -> HttpReply:
    return HttpReply(status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"})


def _oauth_error(status: int, code: str, description: str) -> HttpReply:
    return _json(status, {"error": code, "error_description": description})


def audience_of(scope_or_resource: str) -> str:
    """`https://x/.default` and `https://x/` both mean the resource `https://x`."""
    return scope_or_resource.removesuffix("/.default").rstrip("/")


class Directory:
    def __init__(self, world: BlobWorld, endpoint: str) -> None:
        self.world = world
        self.endpoint = endpoint.rstrip("/")
        self.applications: dict[str, Application] = {}  # client id -> app
        self.audiences: dict[str, str] = {}  # token -> audience
        self._lock = threading.Lock()

    def add_application(self, name: str) -> Application:
        app = Application(name, str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(24))
        with self._lock:
            self.applications[app.client_id] = app
        return app

    def application_named(self, object_id: str) -> str | None:
        with self._lock:
            return next((a.name for a in self.applications.values() if a.object_id == object_id), None)

    def issue(self, principal: str, resource: str) -> str:
        token = self.world.issue_token(principal)
        with self._lock:
            self.audiences[token] = audience_of(resource)
        return token

    def who(self, authorization: str) -> tuple[str, str] | None:
        """(principal, audience) of an `Authorization: Bearer TOKEN` header, None if unknown."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        with self.world.lock:
            principal = self.world.tokens.get(token)
        with self._lock:
            audience = self.audiences.get(token, "")
        return (principal, audience) if principal else None

    # ------------------------------------------------------------------ AD FS endpoints
    def serves(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def reply(self, request: HttpRequest) -> tuple[HttpReply, str | None]:
        """The answer to an AD FS request, and the principal it signed in (None if none)."""
        path = urllib.parse.urlsplit(request.path).path.rstrip("/")
        base = f"{self.endpoint}{PREFIX}"
        if request.method == "GET" and path == f"{PREFIX}/.well-known/openid-configuration":
            return _json(
                200,
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/oauth2/authorize/",
                    "token_endpoint": f"{base}/oauth2/token/",
                    "jwks_uri": f"{base}/discovery/keys",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
                    "grant_types_supported": ["client_credentials"],
                    "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
                    "scopes_supported": ["openid", "profile", "email"],
                },
            ), None
        if request.method == "POST" and path == f"{PREFIX}/oauth2/token":
            return self._token(request)
        return _oauth_error(404, "not_found", f"AD FS has no {request.method} {path}"), None

    def _token(self, request: HttpRequest) -> tuple[HttpReply, str | None]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                f"MSIS9611: The authorization server does not support the requested 'grant_type' {form.get('grant_type')!r}.",
            ), None
        with self._lock:
            app = self.applications.get(form.get("client_id", ""))
        if app is None:
            return _oauth_error(400, "invalid_client", f"MSIS9607: The 'client_id' {form.get('client_id')!r} is not registered."), None
        if not secrets.compare_digest(form.get("client_secret", ""), app.secret):
            return _oauth_error(
                401,
                "invalid_client",
                "MSIS9622: Client authentication failed. Please verify the credential provided for client authentication is valid.",
            ), None
        scopes = [s for s in form.get("scope", "").split() if s not in _RESERVED_SCOPES]
        resource = scopes[0] if scopes else form.get("resource", "")
        if not resource:
            return _oauth_error(400, "invalid_scope", "MSIS9602: The 'scope' parameter names no resource."), None
        token = self.issue(app.object_id, resource)
        return _json(
            200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_S, "resource": audience_of(resource)}
        ), app.object_id
