"""Who is calling, and may they: IAM as the fake enforces it, for the resources rlcloud
scopes (Compute Engine calls, buckets, objects).

- No Authorization header is the emulator's anonymous caller: allowed, as the provisioner
  tests (which drive the fake with anonymous credentials) rely on.
- An unknown bearer token is 401. A known one acts as the member the World issued it to
  (`World.issue_token`: the OAuth endpoint, a metadata server), a self-signed JWT as the
  service account whose key signed it.
- A member may use a permission when a binding names it (or `projectOwner:P` / `projectEditor:P`
  while it holds roles/owner / roles/editor on P) in a policy that covers the resource: the
  project's policy for everything, the bucket's for the bucket and its objects, a service
  account's own for `iam.serviceAccounts.actAs` on it; and the binding's role carries the
  permission, and its condition (the `resource.name == "..."` / `resource.name.startsWith("...")`
  clauses rlcloud writes, joined by `||`) holds.
- Refusals answer as the APIs do: Compute's 403 `forbidden` "Required 'compute.instances.create'
  permission for 'projects/...'", Cloud Storage's "... does not have storage.objects.create access".

The fake holds one project's worth of state, so project-level grants are read from every
project policy it has.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from tests.gcp.fake_gcp.errors import rest_error
from tests.gcp.fake_gcp.routing import answer
from tests.gcp.fake_gcp.world import Reply, Request, World

_OBJECT_READ = {"storage.objects.get", "storage.objects.list"}
_OBJECT_ALL = _OBJECT_READ | {"storage.objects.create", "storage.objects.delete", "storage.objects.update"}
_INSTANCE_ADMIN = {
    "compute.instances.*",
    "compute.disks.*",
    "compute.zoneOperations.*",
    "compute.regionOperations.get",
    "compute.globalOperations.get",
    "compute.projects.get",
    "compute.images.get",
    "compute.images.useReadOnly",
    "compute.networks.get",
    "compute.networks.list",
    "compute.networks.use",
    "compute.subnetworks.get",
    "compute.subnetworks.list",
    "compute.subnetworks.use",
    "compute.resourcePolicies.get",
    "compute.resourcePolicies.list",
    "compute.resourcePolicies.use",
    "compute.zones.*",
    "compute.regions.*",
}
#: Predefined roles and the permissions they carry (IAM's roles reference); `*` patterns.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    "roles/owner": {"*"},
    "roles/editor": {"compute.*", "storage.*", "iam.serviceAccounts.actAs", "iam.serviceAccounts.get", "iam.serviceAccounts.list"},
    "roles/compute.admin": {"compute.*"},
    "roles/compute.instanceAdmin.v1": _INSTANCE_ADMIN,
    "roles/iam.serviceAccountUser": {"iam.serviceAccounts.actAs", "iam.serviceAccounts.get", "iam.serviceAccounts.list"},
    "roles/storage.objectViewer": _OBJECT_READ,
    "roles/storage.objectCreator": {"storage.objects.create"},
    "roles/storage.objectUser": _OBJECT_ALL,
    "roles/storage.objectAdmin": _OBJECT_ALL,
    "roles/storage.admin": {"storage.*"},
    "roles/storage.legacyBucketOwner": {
        "storage.buckets.get",
        "storage.buckets.update",
        "storage.buckets.getIamPolicy",
        "storage.buckets.setIamPolicy",
        "storage.objects.list",
        "storage.objects.create",
        "storage.objects.delete",
    },
    "roles/storage.legacyBucketWriter": {"storage.buckets.get", "storage.objects.list", "storage.objects.create", "storage.objects.delete"},
    "roles/storage.legacyBucketReader": {"storage.buckets.get", "storage.objects.list"},
    "roles/storage.legacyObjectReader": {"storage.objects.get"},
}
_CLAUSE_RE = re.compile(r'^\(?\s*resource\.name(?:\s*==\s*"(?P<equals>[^"]*)"|\.startsWith\("(?P<prefix>[^"]*)"\))\s*\)?$')
_CONVENIENCE = {"projectOwner": "roles/owner", "projectEditor": "roles/editor"}


def role_grants(role: str, permission: str) -> bool:
    return any(fnmatch.fnmatchcase(permission, pattern) for pattern in ROLE_PERMISSIONS.get(role, set()))


def condition_holds(expression: str, resource_name: str) -> bool:
    for clause in (c.strip() for c in expression.split("||")):
        match = _CLAUSE_RE.match(clause)
        if match is None:
            raise ValueError(f"the fake cannot evaluate the IAM condition clause {clause!r}")
        if match.group("equals") is not None and resource_name == match.group("equals"):
            return True
        if match.group("prefix") is not None and resource_name.startswith(match.group("prefix")):
            return True
    return False


def caller(world: World, request: Request) -> str | None | Reply:
    """The member acting (None: anonymous), or the 401 for a token the World did not issue."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    token = header.removeprefix("Bearer ").strip()
    member = member_of(world, token)
    if member is None:
        failure = rest_error(401, "Request had invalid authentication credentials.", "authError")
        failure.body["error"]["errors"][0]["locationType"] = "header"
        return answer(failure)
    return member


def member_of(world: World, token: str) -> str | None:
    """Whom a bearer token acts for: one the World issued, or a service account's self-signed JWT."""
    from tests.gcp.fake_gcp.oauth import asserted_account

    member = world.access_tokens.get(token)
    if member is None and token.count(".") == 2:
        email = asserted_account(world, token)
        member = f"serviceAccount:{email}" if email else None
    return member


def _project_roles(world: World, member: str) -> set[str]:
    return {b.get("role", "") for policy in world.project_policies.values() for b in policy.get("bindings", []) if member in b.get("members", [])}


def _names(world: World, binding: dict[str, Any], member: str) -> bool:
    members = binding.get("members", [])
    if member in members:
        return True
    roles = _project_roles(world, member)
    return any(m.split(":", 1)[0] in _CONVENIENCE and _CONVENIENCE[m.split(":", 1)[0]] in roles for m in members)


def holds(world: World, member: str, permission: str, *, bucket: str | None = None, resource_name: str = "", account: str | None = None) -> bool:
    """Whether `member` may use `permission` (on `bucket`'s policy / `account`'s policy too)."""
    policies = list(world.project_policies.values())
    if bucket is not None:
        policies.append(world.bucket_policies.get(bucket, {}))
    if account is not None:
        policies.append(world.account_policies.get(account, {}))
    for policy in policies:
        for binding in policy.get("bindings", []):
            if not role_grants(binding.get("role", ""), permission) or not _names(world, binding, member):
                continue
            condition = binding.get("condition")
            if condition is None or condition_holds(condition.get("expression", ""), resource_name):
                return True
    return False


def authorize(world: World, request: Request, bucket: str, permission: str, name: str | None = None) -> Reply | None:
    """None when the caller may use `permission` on the bucket (or on object `name`), else the error."""
    member = caller(world, request)
    if member is None:
        return None
    if not isinstance(member, str):
        return member
    resource_name = f"projects/_/buckets/{bucket}" + (f"/objects/{name}" if name is not None else "")
    if holds(world, member, permission, bucket=bucket, resource_name=resource_name):
        return None
    what = "object" if name is not None else "bucket"
    principal = member.split(":", 1)[-1]
    message = (
        f"{principal} does not have {permission} access to the Google Cloud Storage {what}. "
        f"Permission '{permission}' denied on resource (or it may not exist)."
    )
    return answer(rest_error(403, message, "forbidden"))


# ------------------------------------------------------------------------------ Compute Engine
_COMPUTE_RE = re.compile(
    r"^/compute/v1/projects/(?P<project>[^/]+)(?:/(?:global|regions/[^/]+|zones/[^/]+))?(?:/(?P<collection>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<verb>[^/]+))?)?)?$"
)
_OPERATION_KIND = {"global": "globalOperations", "regions": "regionOperations", "zones": "zoneOperations"}
_PUBLIC_IMAGE_PROJECTS = ("ubuntu-os-cloud", "deeplearning-platform-release", "debian-cloud", "cos-cloud")


def compute_permission(method: str, path: str) -> tuple[str, str] | None:
    """(permission, resource) a Compute Engine REST call needs; None for one the fake does not map."""
    match = _COMPUTE_RE.match(path)
    if match is None:
        return None
    project, collection, name, verb = match.group("project"), match.group("collection"), match.group("name"), match.group("verb")
    if collection is None:
        return ("compute.projects.get" if method == "GET" else "compute.projects.setCommonInstanceMetadata"), f"projects/{project}"
    if collection == "operations":
        scope = path.split("/")[5] if path.count("/") > 6 else "global"
        collection = _OPERATION_KIND.get(scope, "globalOperations")
    if collection == "images" and project in _PUBLIC_IMAGE_PROJECTS:
        return None  # public images: any authenticated caller reads them
    if name == "family":
        return "compute.images.get", path.removeprefix("/compute/v1/")
    if verb is not None:
        action = verb
    elif method == "GET":
        action = "get" if name else "list"
    else:
        action = {"POST": "create", "DELETE": "delete", "PUT": "update", "PATCH": "update"}.get(method, method.lower())
    return f"compute.{collection}.{action}", path.removeprefix("/compute/v1/")


def authorize_compute(world: World, request: Request) -> Reply | None:
    """None when the caller may make this Compute Engine call (and act as the service accounts
    an instance insert names), else Compute's 403."""
    member = caller(world, request)
    if member is None:
        return None
    if not isinstance(member, str):
        return member
    needed = compute_permission(request.method, request.path)
    if needed is None:
        return None
    permission, resource = needed
    if not holds(world, member, permission):
        return answer(rest_error(403, f"Required '{permission}' permission for '{resource}'", "forbidden"))
    if permission == "compute.instances.create":
        for account in (request.body or {}).get("serviceAccounts", []):
            email = account.get("email", "")
            if not holds(world, member, "iam.serviceAccounts.actAs", account=email):
                return answer(
                    rest_error(
                        403,
                        f"The user does not have access to service account '{email}'.  User: '{member.split(':', 1)[-1]}'.  Ask a project owner to grant you the iam.serviceAccountUser role on the service account",
                        "forbidden",
                    )
                )
    return None


def authorize_bucket(world: World, request: Request, permission: str, bucket: str) -> Reply | None:
    """Bucket-level calls (create, get, delete, IAM policy): project or bucket grants."""
    member = caller(world, request)
    if member is None:
        return None
    if not isinstance(member, str):
        return member
    if holds(world, member, permission, bucket=bucket if bucket in world.buckets else None, resource_name=f"projects/_/buckets/{bucket}"):
        return None
    principal = member.split(":", 1)[-1]
    return answer(
        rest_error(
            403,
            f"{principal} does not have {permission} access to the Google Cloud Storage bucket. Permission '{permission}' denied on resource (or it may not exist).",
            "forbidden",
        )
    )


_BUCKET_RE = re.compile(r"^/storage/v1/b(?:/(?P<bucket>[^/]+)(?P<iam>/iam)?)?$")
_BUCKET_ACTION = {
    ("POST", False): "create",
    ("GET", False): "get",
    ("DELETE", False): "delete",
    ("PATCH", False): "update",
    ("GET", True): "getIamPolicy",
    ("PUT", True): "setIamPolicy",
}


def gate(world: World, request: Request) -> Reply | None:
    """The check a call meets before its handler runs (objects are checked in theirs, after
    the bucket is found, as Cloud Storage orders its errors)."""
    if request.path.startswith("/compute/"):
        return authorize_compute(world, request)
    match = _BUCKET_RE.match(request.path)
    if match is None:
        return None
    action = _BUCKET_ACTION.get((request.method, bool(match.group("iam"))))
    if match.group("bucket") is None and action == "get":
        action = "list"  # GET /b lists the project's buckets
    if action is None or (match.group("bucket") is None and action not in ("create", "list")):
        return None
    bucket = match.group("bucket") or str((request.body or {}).get("name", ""))
    return authorize_bucket(world, request, f"storage.buckets.{action}", bucket)
