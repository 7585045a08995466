"""The fake Blob service's state: storage accounts, containers, block blobs (committed bytes
and uncommitted blocks), and who may do what (identities, their bearer tokens, and role
assignments on an account or one container, as Azure RBAC scopes them).

Roles carry the data actions of Azure's built-in ones: "Storage Blob Data Reader" reads and
lists, "Storage Blob Data Contributor" and "... Owner" also write, delete and manage
containers. A request is allowed when any assignment of the token's principal, scoped to the
account or to the container addressed, carries the action it needs.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import uuid
from dataclasses import dataclass, field

#: Built-in role -> data actions (read, list, write, delete, container: create/delete containers).
ROLES: dict[str, frozenset[str]] = {
    "Storage Blob Data Reader": frozenset({"read", "list"}),
    "Storage Blob Data Contributor": frozenset({"read", "list", "write", "delete", "container"}),
    "Storage Blob Data Owner": frozenset({"read", "list", "write", "delete", "container"}),
}


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def new_etag() -> str:
    return f'"0x8D{uuid.uuid4().hex[:13].upper()}"'


@dataclass
class Blob:
    """A committed block blob. `blocks` is its committed block list: (block id, size)."""

    data: bytes
    content_type: str
    given_md5: str | None  # base64, as the client set it (x-ms-blob-content-md5 / Content-MD5)
    blocks: list[tuple[str, int]] = field(default_factory=list)
    etag: str = field(default_factory=new_etag)
    created: str = field(default_factory=http_date)
    last_modified: str = field(default_factory=http_date)
    hash_on_read: bool = False  # Put Blob: the service keeps the body's MD5 (hashed when first asked)

    @property
    def content_md5(self) -> str | None:
        """The blob's Content-MD5 property. Hashed on first use, not on the write path, so the
        fake's own hashing does not slow the writes a benchmark measures."""
        if self.given_md5 is None and self.hash_on_read:
            self.given_md5 = md5_b64(self.data)
        return self.given_md5


@dataclass
class Container:
    name: str
    blobs: dict[str, Blob] = field(default_factory=dict)
    uncommitted: dict[str, dict[str, bytes]] = field(default_factory=dict)  # blob name -> block id -> bytes
    etag: str = field(default_factory=new_etag)
    last_modified: str = field(default_factory=http_date)


@dataclass(frozen=True)
class Assignment:
    principal: str
    role: str
    account: str
    container: str | None  # None: the whole account

    def covers(self, account: str, container: str | None) -> bool:
        return self.account == account and (self.container is None or self.container == container)


@dataclass(frozen=True)
class Identity:
    """A managed identity: `client_id` names a user-assigned one to IMDS (None: system-assigned)."""

    principal: str
    client_id: str | None


@dataclass
class BlobWorld:
    accounts: dict[str, dict[str, Container]] = field(default_factory=dict)
    identities: list[Identity] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # bearer token -> principal
    assignments: list[Assignment] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------------ seeding
    def add_account(self, name: str) -> None:
        with self.lock:
            self.accounts.setdefault(name, {})

    def add_container(self, account: str, name: str) -> Container:
        with self.lock:
            self.add_account(account)
            return self.accounts[account].setdefault(name, Container(name))

    def add_identity(self, principal: str | None = None, *, client_id: str | None = None) -> Identity:
        """A managed identity IMDS hands tokens for: system-assigned unless `client_id` is given."""
        identity = Identity(principal or str(uuid.uuid4()), client_id)
        with self.lock:
            self.identities.append(identity)
        return identity

    def issue_token(self, principal: str) -> str:
        """A bearer token acting as `principal` (what IMDS, or a test directly, hands out)."""
        token = f"eyJ0eXAiOiJKV1QifQ.fake-{uuid.uuid4().hex}"
        with self.lock:
            self.tokens[token] = principal
        return token

    def assign(self, principal: str, role: str, account: str, container: str | None = None) -> None:
        if role not in ROLES:
            raise KeyError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        with self.lock:
            self.assignments.append(Assignment(principal, role, account, container))

    # ------------------------------------------------------------------ checks
    def allowed(self, principal: str, action: str, account: str, container: str | None) -> bool:
        with self.lock:
            return any(a.principal == principal and action in ROLES[a.role] and a.covers(account, container) for a in self.assignments)

    # ------------------------------------------------------------------ views for tests
    def blob(self, account: str, container: str, name: str) -> Blob | None:
        with self.lock:
            return self.accounts.get(account, {}).get(container, Container(container)).blobs.get(name)


def md5_b64(data: bytes | memoryview) -> str:
    import base64

    return base64.b64encode(hashlib.md5(data).digest()).decode()
