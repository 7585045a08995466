"""IAM v1 (service accounts and their own policies) and Resource Manager (v1 project get,
which Ray's bootstrap calls; v3 project IAM policy, which rlcloud edits).

Policy writes check the etag (409 ABORTED on a stale one, as Resource Manager answers) and
refuse members naming a service account that does not exist (400, as IAM does). Deleting an
account turns its bindings into `deleted:serviceAccount:...?uid=...` members, as IAM does.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.gcp.fake_gcp.errors import rpc_error
from tests.gcp.fake_gcp.routing import answer, router
from tests.gcp.fake_gcp.world import Request, Response, World, etag

ROUTES, route = router("")
ACCOUNT_ID_RE = re.compile(r"^[a-z]([-a-z0-9]{4,28}[a-z0-9])$")


def _error(status: int, message: str, rpc_status: str) -> Response:
    return answer(rpc_error(status, message, rpc_status))


def _set_policy(world: World, current: dict[str, Any], body: Any) -> tuple[dict[str, Any] | None, Response | None]:
    """Validate a setIamPolicy body against the stored policy; (new policy, None) or (None, error)."""
    policy = copy.deepcopy((body or {}).get("policy", {}))
    if policy.get("etag") and policy["etag"] != current.get("etag"):
        return None, _error(
            409, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.", "ABORTED"
        )
    missing = world.unknown_accounts(policy)
    if missing:
        return None, _error(400, f"Service account {missing[0]} does not exist.", "INVALID_ARGUMENT")
    if any(b.get("condition") for b in policy.get("bindings", [])) and policy.get("version") != 3:
        return None, _error(400, "Policies with conditions must be set with version 3.", "INVALID_ARGUMENT")
    policy["bindings"] = [b for b in policy.get("bindings", []) if b.get("members")]
    policy["etag"] = etag((policy["bindings"], current.get("etag")))
    policy.setdefault("version", 1)
    return policy, None


# --------------------------------------------------------------------------- service accounts
def _account(world: World, request: Request) -> dict[str, Any] | None:
    return world.service_accounts.get(request.params["email"])


@route("GET", r"/v1/projects/(?P<project>[^/]+)/serviceAccounts")
def list_accounts(world: World, request: Request) -> Response:
    project = request.params["project"]
    return 200, {"accounts": [copy.deepcopy(a) for a in world.service_accounts.values() if a["projectId"] == project]}


@route("GET", r"/v1/projects/(?P<project>[^/]+)/serviceAccounts/(?P<email>[^/:]+)")
def get_account(world: World, request: Request) -> Response:
    account = _account(world, request)
    return (200, copy.deepcopy(account)) if account else _error(404, "Unknown service account", "NOT_FOUND")


@route("POST", r"/v1/projects/(?P<project>[^/]+)/serviceAccounts")
def create_account(world: World, request: Request) -> Response:
    project = request.params["project"]
    body = request.body or {}
    account_id = body.get("accountId", "")
    if not ACCOUNT_ID_RE.match(account_id):
        return _error(400, f"Invalid accountId '{account_id}': 6-30 characters, [a-z][-a-z0-9]*[a-z0-9].", "INVALID_ARGUMENT")
    email = f"{account_id}@{project}.iam.gserviceaccount.com"
    if email in world.service_accounts:
        return _error(409, f"Service account {account_id} already exists within project projects/{project}.", "ALREADY_EXISTS")
    details = body.get("serviceAccount", {})
    account = world.add_account(project, account_id, details.get("description", ""))
    account["displayName"] = details.get("displayName", "")
    return 200, copy.deepcopy(account)


@route("DELETE", r"/v1/projects/(?P<project>[^/]+)/serviceAccounts/(?P<email>[^/:]+)")
def delete_account(world: World, request: Request) -> Response:
    account = _account(world, request)
    if account is None:
        return _error(404, "Unknown service account", "NOT_FOUND")
    del world.service_accounts[account["email"]]
    world.account_policies.pop(account["email"], None)
    world.drop_member_on_delete(account["email"], account["uniqueId"])
    return 200, {}


@route("POST", r"/v1/projects/(?P<project>[^/]+)/serviceAccounts/(?P<email>[^/:]+):getIamPolicy")
def get_account_policy(world: World, request: Request) -> Response:
    if _account(world, request) is None:
        return _error(404, "Unknown service account", "NOT_FOUND")
    return 200, copy.deepcopy(world.account_policies.get(request.params["email"], {"version": 1, "etag": "ACAB"}))


@route("POST", r"/v1/projects/(?P<project>[^/]+)/serviceAccounts/(?P<email>[^/:]+):setIamPolicy")
def set_account_policy(world: World, request: Request) -> Response:
    if _account(world, request) is None:
        return _error(404, "Unknown service account", "NOT_FOUND")
    email = request.params["email"]
    policy, refused = _set_policy(world, world.account_policies.get(email, {"etag": "ACAB"}), request.body)
    if refused:
        return refused
    assert policy is not None
    world.account_policies[email] = policy
    return 200, copy.deepcopy(policy)


# --------------------------------------------------------------------------- resource manager
@route("GET", r"/v1/projects/(?P<project>[^/:]+)")
def get_project(world: World, request: Request) -> Response:
    project = request.params["project"]
    return 200, {"projectNumber": "123456789012", "projectId": project, "lifecycleState": "ACTIVE", "name": project}


@route("POST", r"/v3/projects/(?P<project>[^/:]+):getIamPolicy")
def get_project_policy(world: World, request: Request) -> Response:
    return 200, copy.deepcopy(world.project_policy(request.params["project"]))


@route("POST", r"/v3/projects/(?P<project>[^/:]+):setIamPolicy")
def set_project_policy(world: World, request: Request) -> Response:
    project = request.params["project"]
    policy, refused = _set_policy(world, world.project_policy(project), request.body)
    if refused:
        return refused
    assert policy is not None
    world.project_policies[project] = policy
    return 200, copy.deepcopy(policy)
