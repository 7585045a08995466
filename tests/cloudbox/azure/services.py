"""Resource Manager and Blob as the box serves them: the repo's fakes (tests/azure/fake_arm,
tests/azure/fake_blob) behind Azure's authentication and RBAC, over HTTPS on the core address,
recorded in the trail.

- Resource Manager (https://CORE_IP): AD FS sign-in under /adfs (directory.py); every other
  request needs a bearer token the directory issued for this audience (401
  AuthenticationFailed / InvalidAuthenticationToken / InvalidAuthenticationTokenAudience
  otherwise), and the actions rbac.py says it needs (403 AuthorizationFailed, or
  LinkedAuthorizationFailed for what a deployment would create).
- Blob (https://CORE_IP:10000/ACCOUNT/..., path-style like Azure Stack and Azurite): the
  storage accounts and containers are the ones Resource Manager holds (made through ARM, as
  rlcloud makes them) and data access follows the ARM role assignments.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from typing import Any

from tests.azure.fake_arm.server import MUTATING, FakeArm
from tests.azure.fake_blob.server import FakeBlobService
from tests.azure.fake_blob.world import BlobWorld
from tests.cloudbox.azure.directory import Directory
from tests.cloudbox.azure.rbac import Need, Rbac, linked_needs, needs
from tests.cloudbox.azure.trail import Trail
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest

CONTAINER_TYPE = "microsoft.storage/storageaccounts/blobservices/containers"
_CONTAINER_ID = re.compile(r"(?i)/storageaccounts/(?P<account>[^/]+)/blobservices/default/containers/(?P<container>[^/]+)$")
# Audiences Resource Manager accepts besides its own endpoint (what clients of the public cloud ask for).
PUBLIC_ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")


def _arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpReply:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return HttpReply(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


class BoxBlobWorld(BlobWorld):
    """The Blob fake's world with access decided by the ARM role assignments."""

    def __init__(self, rbac: Rbac | None = None) -> None:
        super().__init__()
        self.rbac = rbac  # set once Resource Manager exists; until then nothing is allowed

    def allowed(self, principal: str, action: str, account: str, container: str | None) -> bool:
        return self.rbac is not None and self.rbac.data_allows(principal, action, account, container)


class BoxArm(FakeArm):
    def __init__(self, directory: Directory, trail: Trail, world: BlobWorld) -> None:
        super().__init__()
        self.directory = directory
        self.rbac = Rbac(self)
        self.trail = trail
        self.world = world
        self._synced: set[tuple[str, str]] = set()  # containers the Blob world has from ARM
        self._sync_lock = threading.Lock()

    def serve(self, host: str, port: int, ssl_context: ssl.SSLContext) -> BoxArm:
        self._http = HttpFake(self._box_reply, host=host, port=port, ssl_context=ssl_context).start()
        return self

    @property
    def accepted_audiences(self) -> set[str]:
        own = self.url.removesuffix(":443")
        return {own, self.url, *PUBLIC_ARM_AUDIENCES}

    def _box_reply(self, request: HttpRequest) -> HttpReply:
        path = request.path.split("?", 1)[0]
        if self.directory.serves(path):
            reply, principal = self.directory.reply(request)
            self.trail.add("login", request.method, path, reply.status, request.client, principal)
            return reply
        principal, refusal = self._check(request, path)
        if refusal is not None:
            code = json.loads(bytes(refusal.body))["error"]["code"]
            self.trail.add("arm", request.method, path, refusal.status, request.client, principal, code)
            return refusal
        reply = self._reply(request)
        if request.method in MUTATING and reply.status < 300:
            self.sync_storage()
        code = ""
        if reply.status >= 400 and reply.body:
            try:
                code = json.loads(bytes(reply.body)).get("error", {}).get("code", "")
            except ValueError:
                pass
        self.trail.add("arm", request.method, path, reply.status, request.client, principal, code)
        return reply

    def _check(self, request: HttpRequest, path: str) -> tuple[str | None, HttpReply | None]:
        """(principal, None) when the request may go on, else (principal or None, the refusal)."""
        header = request.headers.get("authorization", "")
        challenge = {"WWW-Authenticate": f'Bearer authorization_uri="{self.directory.endpoint}/adfs", error="invalid_token"'}
        if not header:
            return None, _arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", challenge)
        found = self.directory.who(header)
        if found is None:
            return None, _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.", challenge)
        principal, audience = found
        if audience not in self.accepted_audiences:
            allowed = ",".join(f"'{a}/'" for a in sorted(self.accepted_audiences))
            return principal, _arm_error(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{audience}'. It should exactly match with one of the allowed audiences {allowed}.",
                challenge,
            )
        body: Any = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None
        primary = self.rbac.refused(principal, needs(request.method, path))
        if primary:
            return principal, self._forbidden(principal, primary[0])
        linked = self.rbac.refused(principal, linked_needs(self, request.method, path, body))
        if linked:
            return principal, self._forbidden(principal, linked[0], needs(request.method, path)[0], linked)
        return principal, None

    def _forbidden(self, principal: str, need: Need, granted: Need | None = None, linked: list[Need] | None = None) -> HttpReply:
        client = self._client_id(principal)
        if granted is None or not linked:
            return _arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{client}' with object id '{principal}' does not have authorization to perform action "
                f"'{need.action}' over scope '{need.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            )
        actions = ",".join(f"'{n.action}'" for n in linked)
        scopes = ",".join(f"'{n.scope}'" for n in linked)
        return _arm_error(
            403,
            "LinkedAuthorizationFailed",
            f"The client '{client}' with object id '{principal}' has permission to perform action '{granted.action}' on scope "
            f"'{granted.scope}'; however, it does not have permission to perform action(s) {actions} on the linked scope(s) {scopes} "
            "(respectively) or the linked scope(s) are invalid.",
        )

    def _client_id(self, principal: str) -> str:
        app = next((a for a in self.directory.applications.values() if a.object_id == principal), None)
        if app is not None:
            return app.client_id
        with self.lock:
            for identity in self.store.of_type("Microsoft.ManagedIdentity/userAssignedIdentities"):
                if identity["properties"].get("principalId") == principal:
                    return str(identity["properties"].get("clientId"))
        return principal

    def identity_named(self, principal: str) -> str | None:
        with self.lock:
            for identity in self.store.of_type("Microsoft.ManagedIdentity/userAssignedIdentities"):
                if identity["properties"].get("principalId") == principal:
                    return str(identity["name"])
        return None

    def sync_storage(self) -> None:
        """The Blob world's accounts and containers follow what Resource Manager holds: an
        account made through ARM exists in Blob, a container made through ARM too, and what
        ARM deleted (the account, its group, a container) is gone from Blob with its blobs."""
        with self.lock:
            accounts = {a["name"] for a in self.store.of_type("Microsoft.Storage/storageAccounts")}
            containers = set()
            for resource in self.store.resources.values():
                match = _CONTAINER_ID.search(resource.get("id", "")) if resource.get("type", "").lower() == CONTAINER_TYPE else None
                if match and match.group("account") in accounts:
                    containers.add((match.group("account"), match.group("container")))
        with self._sync_lock, self.world.lock:
            for account in list(self.world.accounts):
                if account not in accounts:
                    del self.world.accounts[account]
            for account in accounts:
                self.world.add_account(account)
            for account, container in containers - self._synced:
                self.world.add_container(account, container)
            for account, container in self._synced - containers:
                self.world.accounts.get(account, {}).pop(container, None)
            self._synced = containers


class BoxBlob(FakeBlobService):
    """The Blob fake with each call in the trail, by the principal its token acts for."""

    def __init__(self, world: BlobWorld, directory: Directory, trail: Trail, *, host: str, port: int, ssl_context: ssl.SSLContext) -> None:
        super().__init__(world, host=host, port=port, ssl_context=ssl_context)
        self.directory = directory
        self.trail = trail

    def _reply(self, request: HttpRequest) -> HttpReply:
        reply = super()._reply(request)
        found = self.directory.who(request.headers.get("authorization", ""))
        code = next((v for k, v in reply.headers.items() if k.lower() == "x-ms-error-code"), "")
        self.trail.add("blob", request.method, request.path, reply.status, request.client, found[0] if found else None, code)
        return reply
