"""The fake's in-memory state (one project's worth of GCE, IAM and Cloud Storage) and the
request / response types its handlers share."""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.gcp.fake_gcp.errors import OperationFailure

Response = tuple[int, dict[str, Any]]
API = "https://www.googleapis.com/compute/v1"

# Images the default node configs use; both carry GVNIC, like the real ones.
DEFAULT_IMAGES = {
    ("deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570"): ["GVNIC", "UEFI_COMPATIBLE", "VIRTIO_SCSI_MULTIQUEUE"],
    ("ubuntu-os-cloud", "ubuntu-2204-lts"): ["GVNIC", "UEFI_COMPATIBLE", "SEV_CAPABLE"],
}
# Someone else's grants already in the project policy: rlcloud must never drop them.
SEED_PROJECT_BINDINGS = [
    {"role": "roles/owner", "members": ["user:alice@example.com"]},
    {"role": "roles/compute.instanceAdmin.v1", "members": ["serviceAccount:ci-deployer@my-rl-project.iam.gserviceaccount.com"]},
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # the JSON body, parsed; None for other bodies (see `raw`)
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)  # names lowercased
    raw: bytes = b""
    base_url: str = "http://127.0.0.1"  # scheme://host:port the caller reached (its Host header)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Media:
    """A non-JSON answer, or one with headers of its own: object bytes (a memoryview is sent
    without a copy), a resumable session's `Location`, a 308 with `Range`."""

    status: int
    data: bytes | memoryview
    headers: dict[str, str]
    content_type: str = "application/octet-stream"


#: What a handler answers: (status, JSON body) or Media.
Reply = Response | Media


@dataclass
class StoredObject:
    """One generation of a Cloud Storage object."""

    data: bytes
    generation: int
    content_type: str
    crc32c: str  # base64 of the big-endian CRC32C, as the API spells it
    created: str
    live: bool = True  # False: a noncurrent version (versioned bucket, replaced or deleted)


@dataclass
class Upload:
    """A resumable upload session: bytes received so far; the object appears when complete."""

    bucket: str
    name: str
    content_type: str
    total: int | None
    crc32c: str | None
    data: bytearray = field(default_factory=bytearray)


def etag(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:12]


@dataclass
class World:
    # Compute Engine
    networks: set[tuple[str, str]] = field(default_factory=lambda: {("my-rl-project", "default")})
    subnetworks: set[tuple[str, str, str]] = field(default_factory=set)
    images: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (project, family or name)
    firewalls: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resource_policies: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    instances: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # IAM and Resource Manager
    service_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by email
    account_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    project_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Cloud Storage
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    bucket_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # bucket -> name -> generations
    object_data: dict[tuple[str, str, int], StoredObject] = field(default_factory=dict)  # (bucket, name, generation)
    uploads: dict[str, Upload] = field(default_factory=dict)  # resumable sessions by upload_id
    # OAuth: access token -> member ("serviceAccount:EMAIL"); service account email -> its keys'
    # public halves (PEM), which the token endpoint checks JWT assertions against
    access_tokens: dict[str, str] = field(default_factory=dict)
    account_keys: dict[str, list[bytes]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        for (project, family), features in DEFAULT_IMAGES.items():
            self.add_image(project, family, features, family=True)
        self.add_account("my-rl-project", "ci-deployer", "CI deployer (not rlcloud's)")

    def add_account(self, project: str, account_id: str, description: str = "") -> dict[str, Any]:
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        unique_id = str(100000000000000000000 + self.next_id())
        self.service_accounts[email] = {
            "name": f"projects/{project}/serviceAccounts/{email}",
            "projectId": project,
            "uniqueId": unique_id,
            "email": email,
            "displayName": "",
            "description": description,
            "etag": "MDEwMjE5MjA=",
            "oauth2ClientId": unique_id,
        }
        return self.service_accounts[email]

    def next_id(self) -> int:
        return next(self._ids)

    def issue_token(self, member: str) -> str:
        """A bearer token that acts as `member` (e.g. "serviceAccount:x@p.iam.gserviceaccount.com"):
        what a metadata server or the OAuth endpoint hands out. Object calls made with it are
        checked against bucket IAM policies."""
        token = f"ya29.fake-{uuid.uuid4().hex}"
        self.access_tokens[token] = member
        return token

    # ------------------------------------------------------------------ seeding helpers
    def add_image(self, project: str, name: str, features: list[str], *, family: bool = False) -> None:
        self.images[(project, name)] = {
            "kind": "compute#image",
            "name": f"{name}-v20250101" if family else name,
            "family": name if family else "",
            "selfLink": f"{API}/projects/{project}/global/images/{name}",
            "status": "READY",
            "guestOsFeatures": [{"type": f} for f in features],
        }

    def add_instance(
        self, name: str, labels: dict[str, str], *, status: str = "RUNNING", project: str = "my-rl-project", zone: str = "us-central1-a"
    ) -> dict[str, Any]:
        """A VM that exists without rlcloud's or Ray's help (e.g. one that lost its labels)."""
        number = self.next_id()
        self.instances[(project, zone, name)] = {
            "kind": "compute#instance",
            "id": str(number),
            "name": name,
            "status": status,
            "labels": dict(labels),
            "labelFingerprint": etag(labels),
            "zone": f"{API}/projects/{project}/zones/{zone}",
            "selfLink": f"{API}/projects/{project}/zones/{zone}/instances/{name}",
            "networkInterfaces": [
                {"networkIP": f"10.128.0.{number % 250 + 2}", "accessConfigs": [{"natIP": f"34.1.{number // 250 % 250}.{number % 250 + 2}"}]}
            ],
        }
        return self.instances[(project, zone, name)]

    def project_policy(self, project: str) -> dict[str, Any]:
        if project not in self.project_policies:
            bindings = copy.deepcopy(SEED_PROJECT_BINDINGS)
            self.project_policies[project] = {"version": 1, "etag": etag(bindings), "bindings": bindings}
        return self.project_policies[project]

    # ------------------------------------------------------------------ operations
    def operation(self, request: Request, kind: str, target: str, error: OperationFailure | None = None) -> dict[str, Any]:
        scope = {k: request.params[k] for k in ("zone", "region") if k in request.params}
        where = f"zones/{scope['zone']}" if "zone" in scope else f"regions/{scope['region']}" if "region" in scope else "global"
        name = f"operation-{self.next_id()}"
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(self.next_id()),
            "name": name,
            "operationType": kind,
            "targetLink": target,
            "status": "DONE",
            "progress": 100,
            "selfLink": f"{API}/projects/{request.params['project']}/{where}/operations/{name}",
        }
        if "zone" in scope:
            op["zone"] = f"{API}/projects/{request.params['project']}/zones/{scope['zone']}"
        if "region" in scope:
            op["region"] = f"{API}/projects/{request.params['project']}/regions/{scope['region']}"
        if error is not None:
            op["error"] = {"errors": [{"code": error.code, "message": error.message}]}
            op["httpErrorStatusCode"] = error.http_status
            op["httpErrorMessage"] = error.http_message
        self.operations[name] = op
        return op

    def failed_operation(self, request: Request, failure: OperationFailure) -> dict[str, Any]:
        return self.operation(request, request.method.lower(), f"{API}{request.path.removeprefix('/compute/v1')}", failure)

    # ------------------------------------------------------------------ IAM side effects
    def drop_member_on_delete(self, email: str, unique_id: str) -> None:
        """What IAM does when an account is deleted: its bindings stay, as a deleted member."""
        member = f"serviceAccount:{email}"
        for policy in [*self.project_policies.values(), *self.account_policies.values(), *self.bucket_policies.values()]:
            for binding in policy.get("bindings", []):
                binding["members"] = [f"deleted:{member}?uid={unique_id}" if m == member else m for m in binding["members"]]

    def unknown_accounts(self, policy: dict[str, Any]) -> list[str]:
        """Service accounts named in `policy` that do not exist (IAM refuses those)."""
        missing = []
        for binding in policy.get("bindings", []):
            for member in binding.get("members", []):
                match = re.fullmatch(r"serviceAccount:(.+\.iam\.gserviceaccount\.com)", member)
                if match and match.group(1) not in self.service_accounts:
                    missing.append(match.group(1))
        return missing

    # ------------------------------------------------------------------ views for tests
    def snapshot(self) -> dict[str, Any]:
        """Everything rlcloud could have created, minus ids / etags / timestamps, to compare
        two worlds (e.g. after a clean `up` and after a failed one that was re-run)."""
        volatile = {
            "id",
            "etag",
            "creationTimestamp",
            "uniqueId",
            "oauth2ClientId",
            "labelFingerprint",
            "selfLink",
            "metageneration",
            "timeCreated",
            "updated",
        }

        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: clean(v) for k, v in sorted(value.items()) if k not in volatile}
            if isinstance(value, list):
                return sorted((clean(v) for v in value), key=repr)
            return value

        return clean(
            {
                "firewalls": {str(k): v for k, v in self.firewalls.items()},
                "resource_policies": {str(k): v for k, v in self.resource_policies.items()},
                "instances": {str(k): v for k, v in self.instances.items()},
                "service_accounts": self.service_accounts,
                "account_policies": self.account_policies,
                "project_policies": self.project_policies,
                "buckets": self.buckets,
                "bucket_policies": self.bucket_policies,
            }
        )
