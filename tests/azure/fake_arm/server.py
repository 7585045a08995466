"""A stateful fake of the Azure Resource Manager REST endpoints rlcloud and Ray's Azure node
provider call, on 127.0.0.1, for the real SDK clients to talk to.

- Resources live in memory (store.py); GET of a missing one is ARM's 404 shape.
- Long-running operations behave like ARM's: deletes answer 202 with a Location to poll,
  template deployments 201 with an Azure-AsyncOperation status that ends Succeeded or Failed.
- Every request is recorded (method, path, query), so a test can assert that an `up` with
  nothing to do made only GETs.
- Faults: a test makes the N-th mutating request, or requests matching a pattern, fail with
  a real-shaped ARM error (errors.py), including 429 with Retry-After, which the SDK retries.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.azure.fake_arm.errors import ArmError
from tests.azure.fake_arm.store import BUILTIN_ROLES, ArmStore, not_found_for
from tests.azure.fake_arm.template import TemplateError
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest, ServedFake

MUTATING = {"PUT", "PATCH", "POST", "DELETE"}
SYNC_DELETES = {"microsoft.compute/proximityplacementgroups", "microsoft.managedidentity/userassignedidentities"}
Response = tuple[int, dict[str, str], Any]

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
ROUTES = [
    ("authz", re.compile(r"(?i)^(?P<scope>.*)/providers/microsoft\.authorization/(?P<kind>roledefinitions|roleassignments)(?:/(?P<name>[^/]+))?$")),
    ("subscription_resources", re.compile(r"(?i)^" + _SUB + r"/resources$")),
    ("group", re.compile(r"(?i)^" + _RG + r"$")),
    (
        "storage_child",
        re.compile(
            r"(?i)^(?P<parent>" + _RG + r"/providers/microsoft\.storage/storageaccounts/[^/]+)/(?P<path>blobservices/default(?:/containers/[^/]+)?)$"
        ),
    ),
    ("group_resources", re.compile(r"(?i)^" + _RG + r"/resources$")),
    ("deployment", re.compile(r"(?i)^" + _RG + r"/providers/microsoft\.resources/deployments/(?P<name>[^/]+)$")),
    ("collection", re.compile(r"(?i)^" + _RG + r"/providers/(?P<ns>[^/]+)/(?P<kind>[^/]+)$")),
    ("resource", re.compile(r"(?i)^" + _RG + r"/providers/(?P<ns>[^/]+)/(?P<kind>[^/]+)/(?P<name>[^/]+)$")),
    ("action", re.compile(r"(?i)^" + _RG + r"/providers/(?P<ns>[^/]+)/(?P<kind>[^/]+)/(?P<name>[^/]+)/(?P<action>[^/]+)$")),
    ("child", re.compile(r"(?i)^" + _RG + r"/providers/(?P<ns>[^/]+)/(?P<kind>[^/]+)/(?P<name>[^/]+)/(?P<child>[^/]+)/(?P<child_name>[^/]+)$")),
]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING


@dataclass
class _Fault:
    error: ArmError
    method: str | None = None
    pattern: re.Pattern[str] | None = None
    nth_mutation: int | None = None  # absolute count of mutating requests at which to fail
    times: int = 1


class FakeArm(ServedFake):
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.store = ArmStore()
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._operations: dict[str, Response] = {}
        self._op_ids = itertools.count(1)
        self._http: HttpFake | None = None
        self.bugs: list[str] = []  # exceptions inside the fake; the test fixture fails on any
        self.store.internal_fault_check = self._internal_fault

    # ------------------------------------------------------------------ lifecycle
    @property
    def endpoint(self) -> str:
        return self.url

    def start(self) -> FakeArm:
        self._http = HttpFake(self._reply).start()
        return self

    def _reply(self, request: HttpRequest) -> HttpReply:
        status, headers, body = self.handle(request.method, request.path, json.loads(request.body) if request.body else None)
        payload = b"" if body is None else json.dumps(body).encode()
        return HttpReply(status, payload, {"Content-Type": "application/json", **headers})

    def reset(self) -> None:
        with self.lock:
            self.store.__init__()  # type: ignore[misc]
            self.store.internal_fault_check = self._internal_fault
            self.requests.clear()
            self._faults.clear()
            self._operations.clear()
            self.bugs.clear()

    # ------------------------------------------------------------------ what tests use
    def mutations(self) -> list[Request]:
        return [r for r in self.requests if r.mutating]

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def fail_nth_mutation(self, n: int, error: ArmError) -> None:
        """The n-th mutating request from now (1-based) fails with `error`."""
        with self.lock:
            done = len(self.mutations())
            self._faults.append(_Fault(error, nth_mutation=done + n))

    def fail_when(self, method: str, path_regex: str, error: ArmError, times: int = 1) -> None:
        """The next `times` requests of `method` whose path matches fail with `error` (also
        applies to the resources a template deployment creates)."""
        with self.lock:
            self._faults.append(_Fault(error, method=method, pattern=re.compile(path_regex, re.IGNORECASE), times=times))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self.store.view(r) for r in self.store.of_type(kind)]

    def everything(self) -> list[str]:
        """Ids of every resource, group, role definition and assignment the fake holds."""
        with self.lock:
            ids = [r["id"] for r in self.store.resources.values() if r["type"] != "Microsoft.Resources/deployments"]
            return ids + [d["id"] for d in self.store.role_definitions.values()] + [a["id"] for a in self.store.role_assignments.values()]

    # ------------------------------------------------------------------ faults
    def _take_fault(self, method: str, path: str, count_as_mutation: bool) -> ArmError | None:
        mutation_number = len(self.mutations())
        for fault in self._faults:
            if fault.times <= 0:
                continue
            hit = (fault.nth_mutation is not None and count_as_mutation and mutation_number == fault.nth_mutation) or (
                fault.pattern is not None and fault.method == method and fault.pattern.search(path)
            )
            if hit:
                fault.times -= 1
                return fault.error
        return None

    def _internal_fault(self, method: str, rid: str) -> None:
        error = self._take_fault(method, rid, count_as_mutation=False)
        if error:
            raise error

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, raw_path: str, body: Any) -> Response:
        url = urlparse(raw_path)
        path = unquote(url.path).rstrip("/")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            if path.startswith("/_fake/operations/"):
                return self._operations.get(path.rsplit("/", 1)[-1], (404, {}, None))
            self.requests.append(Request(method, path, url.query))
            error = self._take_fault(method, path, count_as_mutation=method in MUTATING)
            if error:
                return error.status, dict(error.headers), error.body()
            try:
                return self._route(method, path, query, body or {})
            except ArmError as exc:
                return exc.status, dict(exc.headers), exc.body()
            except TemplateError as exc:
                return 400, {}, {"error": {"code": "InvalidTemplate", "message": str(exc)}}
            except Exception as exc:  # a bug in the fake: fail the test, not into SDK retries
                self.bugs.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                return 400, {}, {"error": {"code": "FakeArmBug", "message": self.bugs[-1]}}

    def _async(self, outcome: Response, header: str) -> dict[str, str]:
        op = str(next(self._op_ids))
        self._operations[op] = outcome
        return {header: f"{self.endpoint}/_fake/operations/{op}", "Retry-After": "0"}

    def _route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Response:
        for name, pattern in ROUTES:
            match = pattern.match(path)
            if match:
                return getattr(self, f"_{name}")(method, match.groupdict(), query, body)
        return 404, {}, {"error": {"code": "InvalidResourceType", "message": f"The fake does not serve {path}"}}

    # ------------------------------------------------------------------ handlers
    def _group(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        store = self.store
        if method == "PUT":
            group, created = store.put_group(m["sub"], m["rg"], body)
            return (201 if created else 200), {}, group
        group = store.require_group(m["sub"], m["rg"])
        if method == "DELETE":
            store.delete_group(m["sub"], m["rg"])
            return 202, self._async((200, {}, None), "Location"), None
        if method == "PATCH":
            group["tags"] = body.get("tags", group["tags"])
        return (204 if method == "HEAD" else 200), {}, group

    def _group_resources(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        group = self.store.require_group(m["sub"], m["rg"])
        items = [
            r for r in self.store.in_group(m["sub"], group["name"]) if r["type"] != "Microsoft.Resources/deployments" and r["type"].count("/") == 1
        ]
        text = query.get("$filter", "")
        for key, value in re.findall(r"(tagName|tagValue|resourceType) eq '([^']*)'", text):
            if key == "tagName":
                items = [r for r in items if value in (r.get("tags") or {})]
            elif key == "tagValue":
                items = [r for r in items if value in (r.get("tags") or {}).values()]
            else:
                items = [r for r in items if r["type"].lower() == value.lower()]
        listed = [{k: r[k] for k in ("id", "name", "type", "location", "tags") if k in r} for r in items]
        return 200, {}, {"value": listed}

    def _subscription_resources(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        prefix = f"/subscriptions/{m['sub']}/resourcegroups/"
        items = [
            r
            for k, r in self.store.resources.items()
            if k.startswith(prefix) and len(k.split("/")) == 9 and r["type"] != "Microsoft.Resources/deployments"
        ]
        text = query.get("$filter", "")
        for key, value in re.findall(r"(resourceType|name) eq '([^']*)'", text):
            field = "type" if key == "resourceType" else "name"
            items = [r for r in items if str(r.get(field, "")).lower() == value.lower()]
        return 200, {}, {"value": [{k: r[k] for k in ("id", "name", "type", "location", "tags") if k in r} for r in items]}

    def _storage_child(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        self.store.require_group(m["sub"], m["rg"])
        rid = f"{m['parent']}/{m['path']}"
        if method == "PUT":
            child, created = self.store.put_child(m["parent"], m["path"], body)
            return (201 if created else 200), {}, child
        found = self.store.get(rid)
        if method == "DELETE":
            if found is not None:
                self.store.delete_resource(rid)
            return 200, {}, None
        if found is None:
            raise not_found_for(rid)
        return 200, {}, found

    def _collection(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        group = self.store.require_group(m["sub"], m["rg"])
        kind = f"{m['ns']}/{m['kind']}".lower()
        items = [self.store.view(r) for r in self.store.in_group(m["sub"], group["name"]) if r["type"].lower() == kind]
        return 200, {}, {"value": items}

    def _resource(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        store = self.store
        group = store.require_group(m["sub"], m["rg"])
        rid = f"{group['id']}/providers/{m['ns']}/{m['kind']}/{m['name']}"
        if method == "PUT":
            resource, created = store.put_resource(m["sub"], group["name"], m["ns"], m["kind"], m["name"], body)
            return (201 if created else 200), {}, store.view(resource)
        existing = store.get(rid)
        if method == "DELETE":
            if existing is None:
                return 204, {}, None
            store.delete_resource(rid)
            if existing["type"].lower() in SYNC_DELETES:
                return 200, {}, None
            return 202, self._async((200, {}, None), "Location"), None
        if existing is None:
            raise not_found_for(rid)
        if method == "PATCH":
            existing["tags"] = {**(existing.get("tags") or {}), **(body.get("tags") or {})}
            if "identity" in body:
                store.patch_identity(existing, body["identity"])
        return 200, {}, store.view(existing)

    def _action(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        group = self.store.require_group(m["sub"], m["rg"])
        rid = f"{group['id']}/providers/{m['ns']}/{m['kind']}/{m['name']}"
        if self.store.get(rid) is None:
            raise not_found_for(rid)
        action = m["action"].lower()
        states = self.store.instance_state
        if action == "instanceview" and method == "GET":
            power = states.get(rid.lower(), "running")
            return 200, {}, {"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": f"PowerState/{power}", "displayStatus": f"VM {power}"}]}
        if method == "POST" and action in ("deallocate", "start", "poweroff"):
            states[rid.lower()] = {"deallocate": "deallocated", "start": "running", "poweroff": "stopped"}[action]
            return 202, self._async((200, {}, None), "Location"), None
        return 404, {}, {"error": {"code": "InvalidResourceType", "message": f"The fake does not serve {action}"}}

    def _child(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        group = self.store.require_group(m["sub"], m["rg"])
        parent = f"{group['id']}/providers/{m['ns']}/{m['kind']}/{m['name']}"
        if m["child"].lower() != "subnets" or method != "GET":
            return 404, {}, {"error": {"code": "InvalidResourceType", "message": "The fake serves GET of subnets only"}}
        subnet = self.store.subnet(f"{parent}/subnets/{m['child_name']}")
        if subnet is None:
            raise not_found_for(f"{parent}/subnets/{m['child_name']}")
        return 200, {}, subnet

    def _deployment(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        group = self.store.require_group(m["sub"], m["rg"])
        rid = f"{group['id']}/providers/Microsoft.Resources/deployments/{m['name']}"
        if method == "PUT":
            deployment, failure = self.store.deploy(m["sub"], group["name"], m["name"], body)
            status = {"status": "Failed", "error": failure.body()["error"]} if failure else {"status": "Succeeded"}
            return (
                201,
                self._async((200, {}, status), "Azure-AsyncOperation"),
                {**deployment, "properties": {**deployment["properties"], "provisioningState": "Accepted"}},
            )
        deployment = self.store.get(rid)
        if deployment is None:
            raise ArmError(404, "DeploymentNotFound", f"Deployment '{m['name']}' could not be found.")
        return 200, {}, deployment

    def _authz(self, method: str, m: dict[str, str], query: dict[str, str], body: dict[str, Any]) -> Response:
        store, scope, name = self.store, m["scope"], m["name"]
        sub = scope.split("/")[2] if scope.startswith("/subscriptions/") else ""
        if m["kind"].lower() == "roledefinitions":
            if method == "PUT":
                return 201, {}, store.put_role_definition(sub, name, body)[0]
            if method == "DELETE":
                removed = store.delete_role_definition(name)
                return (200, {}, removed) if removed else (204, {}, None)
            found = store.role_definitions.get(name.lower())
            if found is None and name.lower() in BUILTIN_ROLES:
                found = {
                    "id": f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}",
                    "name": name,
                    "type": "Microsoft.Authorization/roleDefinitions",
                    "properties": {"roleName": BUILTIN_ROLES[name.lower()], "type": "BuiltInRole"},
                }
            if found is None:
                raise ArmError(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{name}' does not exist.")
            return 200, {}, found
        if name is None:  # list
            text = query.get("$filter", "")
            principal = re.search(r"principalId eq '([^']+)'", text)
            items = store.assignments_for(scope, "atScope()" in text, principal.group(1) if principal else None)
            return 200, {}, {"value": items}
        rid = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        if method == "PUT":
            assignment, created = store.put_role_assignment(scope, name, body)
            return (201 if created else 200), {}, assignment
        found = store.role_assignments.get(rid.lower())
        if method == "DELETE":
            if found is None:
                return 204, {}, None
            return 200, {}, store.role_assignments.pop(rid.lower())
        if found is None:
            raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return 200, {}, found


def start_fake_arm() -> FakeArm:
    return FakeArm().start()
