"""The token part of Azure's Instance Metadata Service, for managed identities in tests.

azure-identity's ManagedIdentityCredential (alone or inside DefaultAzureCredential) asks
IMDS for tokens at `AZURE_POD_IDENTITY_AUTHORITY_HOST` when that variable is set, else at
169.254.169.254; so with `env()` the runtime's real credential path runs unchanged:
`GET /metadata/identity/oauth2/token?api-version=...&resource=...[&client_id=...]` with the
header `Metadata: true`. With `client_id` (from AZURE_CLIENT_ID) the user-assigned identity
of that client id answers; without, the system-assigned one. An identity the World does not
have gets IMDS's 400 "Identity not found". Tokens come from `BlobWorld.issue_token`, so the
Blob service knows whom they act for. Plain HTTP, as IMDS is.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from tests.azure.fake_blob.world import BlobWorld, Identity
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest, ServedFake

TOKEN_PATH = "/metadata/identity/oauth2/token"


class FakeImds(ServedFake):
    def __init__(self, world: BlobWorld, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = world
        self.host, self.port = host, port
        self.requests: list[dict[str, str]] = []  # the query of each token request
        self._http: HttpFake | None = None

    def start(self) -> FakeImds:
        self._http = HttpFake(self._reply, host=self.host, port=self.port).start()
        return self

    def _reply(self, request: HttpRequest) -> HttpReply:
        if request.method != "GET":
            return HttpReply(405, b"", {"Allow": "GET"})
        status, body = self.token(request.path, request.headers.get("metadata", ""))
        return HttpReply(status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8"})

    def env(self) -> dict[str, str]:
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.url}

    def token(self, raw_path: str, metadata_header: str) -> tuple[int, dict[str, Any]]:
        parsed = urllib.parse.urlsplit(raw_path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        self.requests.append(query)
        if parsed.path != TOKEN_PATH:
            return 404, {"error": "not_found", "error_description": f"no {parsed.path} in the fake IMDS"}
        return token_reply(query, metadata_header, self.world.identities, lambda principal, resource: self.world.issue_token(principal))


def token_reply(
    query: dict[str, str],
    metadata_header: str,
    identities: Sequence[Identity],
    issue: Callable[[str, str], str],
    default: Identity | None = None,
) -> tuple[int, dict[str, Any]]:
    """IMDS's answer to a token request (`query` of /metadata/identity/oauth2/token), for a
    caller whose identities are `identities`: the one whose client id the query names, or
    without one `default` (what IMDS picks: the system-assigned identity, or the only one),
    by default the one whose client_id is None.
    `issue(principal, resource)` makes the bearer token; the cloud box uses it too, with the
    identities of the VM that asks."""
    if metadata_header.lower() != "true":
        return 400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}
    resource = query.get("resource", "")
    if not resource:
        return 400, {"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"}
    client_id = query.get("client_id")
    if client_id is None and default is not None:
        identity: Identity | None = default
    else:
        identity = next((i for i in identities if i.client_id == client_id), None)
    if identity is None:
        return 400, {"error": "invalid_request", "error_description": "Identity not found"}
    now = int(time.time())
    return 200, {
        "access_token": issue(identity.principal, resource),
        "client_id": identity.client_id or "00000000-0000-0000-0000-000000000000",
        "expires_in": "86399",
        "expires_on": str(now + 86399),
        "ext_expires_in": "86399",
        "not_before": str(now),
        "resource": resource,
        "token_type": "Bearer",
    }
