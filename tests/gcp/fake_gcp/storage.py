"""Cloud Storage JSON API v1: buckets and bucket IAM policies. Objects (uploads, downloads,
list, delete) are in `objects.py`; tests put objects in with `put_object`.

Refuses what Cloud Storage refuses: a second bucket of the same name (409), deleting a bucket
that still holds objects (409), a stale policy etag (412), and IAM conditions on a bucket
without uniform bucket-level access (400).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.gcp.fake_gcp.errors import rest_error
from tests.gcp.fake_gcp.objects import put_object
from tests.gcp.fake_gcp.routing import answer, router
from tests.gcp.fake_gcp.world import Request, Response, World, etag

ROUTES, route = router(r"/storage/v1")
__all__ = ["ROUTES", "add_bucket", "put_object"]
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def _error(status: int, message: str, reason: str) -> Response:
    return answer(rest_error(status, message, reason))


def _no_bucket() -> Response:
    return _error(404, "The specified bucket does not exist.", "notFound")


def add_bucket(world: World, name: str, *, uniform_access: bool = True, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A bucket that exists before rlcloud runs (e.g. the user's own)."""
    world.buckets[name] = {
        "kind": "storage#bucket",
        "id": name,
        "name": name,
        "projectNumber": "123456789012",
        "location": "US",
        "storageClass": "STANDARD",
        "labels": dict(labels or {}),
        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": uniform_access}, "publicAccessPrevention": "inherited"},
        "versioning": {"enabled": False},
        "metageneration": "1",
        "etag": "CAE=",
    }
    world.bucket_policies[name] = {
        "version": 1,
        "etag": "CAE=",
        "bindings": [{"role": "roles/storage.legacyBucketOwner", "members": ["projectOwner:my-rl-project"]}],
    }
    return world.buckets[name]


@route("GET", r"/b")
def list_buckets(world: World, request: Request) -> Response:
    """The project's buckets (one project in the fake: all of them)."""
    return 200, {"kind": "storage#buckets", "items": [copy.deepcopy(b) for _, b in sorted(world.buckets.items())]}


@route("GET", r"/b/(?P<bucket>[^/]+)")
def get_bucket(world: World, request: Request) -> Response:
    bucket = world.buckets.get(request.params["bucket"])
    return (200, copy.deepcopy(bucket)) if bucket else _no_bucket()


@route("POST", r"/b")
def create_bucket(world: World, request: Request) -> Response:
    body = request.body or {}
    name = body.get("name", "")
    if not BUCKET_RE.match(name):
        return _error(400, f"Invalid bucket name: '{name}'", "invalid")
    if name in world.buckets:
        return _error(409, "Your previous request to create the named bucket succeeded and you already own it.", "conflict")
    bucket = add_bucket(
        world,
        name,
        uniform_access=body.get("iamConfiguration", {}).get("uniformBucketLevelAccess", {}).get("enabled", False),
        labels=body.get("labels"),
    )
    bucket["location"] = body.get("location", "US").upper()
    bucket["iamConfiguration"]["publicAccessPrevention"] = body.get("iamConfiguration", {}).get("publicAccessPrevention", "inherited")
    bucket["versioning"] = {"enabled": bool(body.get("versioning", {}).get("enabled"))}
    return 200, copy.deepcopy(bucket)


@route("DELETE", r"/b/(?P<bucket>[^/]+)")
def delete_bucket(world: World, request: Request) -> Response:
    name = request.params["bucket"]
    if name not in world.buckets:
        return _no_bucket()
    if any(world.objects.get(name, {}).values()):
        return _error(409, "The bucket you tried to delete is not empty.", "conflict")
    del world.buckets[name]
    world.bucket_policies.pop(name, None)
    world.objects.pop(name, None)
    return 204, {}


@route("GET", r"/b/(?P<bucket>[^/]+)/iam")
def get_bucket_policy(world: World, request: Request) -> Response:
    name = request.params["bucket"]
    if name not in world.buckets:
        return _no_bucket()
    policy = copy.deepcopy(world.bucket_policies[name])
    if any(b.get("condition") for b in policy.get("bindings", [])) and request.arg("optionsRequestedPolicyVersion") != "3":
        return _error(400, "Policies with conditions can only be read with requested policy version 3.", "invalid")
    policy["resourceId"] = f"projects/_/buckets/{name}"
    return 200, policy


@route("PUT", r"/b/(?P<bucket>[^/]+)/iam")
def set_bucket_policy(world: World, request: Request) -> Response:
    name = request.params["bucket"]
    if name not in world.buckets:
        return _no_bucket()
    policy = copy.deepcopy(request.body or {})
    current = world.bucket_policies[name]
    if policy.get("etag") and policy["etag"] != current.get("etag"):
        return _error(412, "Precondition Failed", "conditionNotMet")
    conditional = any(b.get("condition") for b in policy.get("bindings", []))
    if conditional and not world.buckets[name]["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"]:
        return _error(400, "IAM conditions can only be used on buckets with uniform bucket-level access enabled.", "invalid")
    if conditional and policy.get("version") != 3:
        return _error(400, "Policies with conditions must be set with version 3.", "invalid")
    missing = world.unknown_accounts(policy)
    if missing:
        return _error(400, f"Service account {missing[0]} does not exist.", "invalid")
    policy.pop("resourceId", None)
    policy["bindings"] = [b for b in policy.get("bindings", []) if b.get("members")]
    policy["etag"] = etag((policy["bindings"], current.get("etag")))
    world.bucket_policies[name] = policy
    return 200, {**copy.deepcopy(policy), "resourceId": f"projects/_/buckets/{name}"}
