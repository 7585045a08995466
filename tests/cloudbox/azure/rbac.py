"""Azure RBAC in the box: which action a Resource Manager request needs over which scope, and
whether a principal's role assignments grant it, management and data plane alike.

An assignment grants its role's actions over its scope and everything below it (ids compared
case-insensitively, by path prefix), as Azure evaluates them. The assignments are the ARM
fake's own (what rlcloud creates: its custom autoscaler role on the cluster's group, Storage
Blob Data Contributor on the checkpoint container, Managed Identity Operator on the workers'
identity) plus the box's seeded ones (the operator's Owner on the subscription), which live
outside the fake so that listing the subscription's assignments shows what rlcloud made.

A template deployment is checked as ARM checks it: `deployments/write` on the deployment,
then, over the resources the template creates (linked scopes), `write` on each, `join` on
the subnet, NSG and public IP a NIC uses, and `assign` on every user-assigned identity a VM
gets; this is why the head needs Managed Identity Operator on the workers' identity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.azure.fake_arm import template as arm_template
from tests.azure.fake_arm.server import FakeArm
from tests.azure.fake_arm.template import TemplateError
from tests.azure.fake_blob.world import ROLES

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
# Built-in roles' control-plane actions, as Azure defines them.
BUILTIN_ACTIONS: dict[str, tuple[str, ...]] = {
    OWNER: ("*",),
    STORAGE_BLOB_DATA_CONTRIBUTOR: (
        "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ),
    STORAGE_BLOB_DATA_READER: (
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ),
    MANAGED_IDENTITY_OPERATOR: (
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Support/*",
    ),
}
# Built-in roles with data actions, by the Blob fake's role names (its ROLES).
DATA_ROLES = {
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    STORAGE_BLOB_DATA_OWNER: "Storage Blob Data Owner",
}
VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
ASSIGN_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"


@dataclass(frozen=True)
class Grant:
    """A role assignment the box holds itself (not listed by the fake ARM)."""

    principal: str
    role: str  # role definition GUID
    scope: str


@dataclass(frozen=True)
class Need:
    """An action over a scope a request needs; `linked`: for what a deployment creates."""

    action: str
    scope: str
    linked: bool = False


def _norm(scope: str) -> str:
    return scope.rstrip("/").lower()


def covers(grant_scope: str, scope: str) -> bool:
    grant, target = _norm(grant_scope), _norm(scope)
    return target == grant or target.startswith(grant + "/") or grant == ""


def _pattern(action: str) -> re.Pattern[str]:
    """Azure's wildcard: `*` is any text; `a/*/b` also matches `a/b`."""
    escaped = re.escape(action).replace(r"/\*/", "/(?:.*/)?").replace(r"\*", ".*")
    return re.compile(f"^{escaped}$", re.IGNORECASE)


def matches(patterns: list[str] | tuple[str, ...], action: str) -> bool:
    return any(_pattern(p).match(action) for p in patterns)


# ---------------------------------------------------------------------- what a request needs

_AUTHZ = re.compile(r"(?i)^(?P<scope>.*)/providers/microsoft\.authorization/(?P<kind>roledefinitions|roleassignments)(?:/[^/]+)?$")
_SUB = re.compile(r"(?i)^/subscriptions/[^/]+")
_GROUP = re.compile(r"(?i)^(?P<group>/subscriptions/[^/]+/resourcegroups/[^/]+)(?P<rest>/.*)?$")


def needs(method: str, path: str) -> list[Need]:
    """The actions (and their scopes) a request to `path` needs; [] for what only needs a
    valid token (polling an operation's status URL)."""
    verb = "action" if method == "POST" else VERBS.get(method, "read")
    authz = _AUTHZ.match(path)
    if authz:
        return [Need(f"Microsoft.Authorization/{authz.group('kind')}/{verb}", authz.group("scope") or "/")]
    if path.lower().startswith("/_fake/"):
        return []
    group = _GROUP.match(path)
    if group is None:
        sub = _SUB.match(path)
        if sub and path.lower().endswith("/resources"):
            return [Need("Microsoft.Resources/subscriptions/resources/read", sub.group(0))]
        return [Need(f"Microsoft.Resources/subscriptions/{verb}", sub.group(0) if sub else "/")]
    rest = [p for p in (group.group("rest") or "").split("/") if p]
    if not rest:
        return [Need(f"Microsoft.Resources/subscriptions/resourceGroups/{verb}", path)]
    if rest == ["resources"]:
        return [Need("Microsoft.Resources/subscriptions/resourceGroups/resources/read", group.group("group"))]
    if rest[0].lower() != "providers" or len(rest) < 3:
        return [Need(f"Microsoft.Resources/subscriptions/resourceGroups/{verb}", group.group("group"))]
    namespace, segments = rest[1], rest[2:]
    types = segments[0::2]
    if len(segments) % 2 == 0:  # a resource: NS/TYPE/NAME[/CHILD/NAME]
        return [Need(f"{namespace}/{'/'.join(types)}/{verb}", path)]
    # NS/TYPE (a list), or NS/TYPE/NAME/WORD: an action (POST), a view or child list (GET)
    parent = "/".join([group.group("group"), "providers", namespace, *segments[:-1]])
    if len(segments) == 1:
        return [Need(f"{namespace}/{types[0]}/read", group.group("group"))]
    word = "action" if method == "POST" else "read"
    return [Need(f"{namespace}/{'/'.join(types[:-1] + [segments[-1]])}/{word}", parent)]


def _identity_ids(resource: dict[str, Any]) -> list[str]:
    identities = (resource.get("identity") or {}).get("userAssignedIdentities") or {}
    return [rid for rid, value in identities.items() if value is not None]


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else None


def linked_needs(arm: FakeArm, method: str, path: str, body: Any) -> list[Need]:
    """What a write also needs over the resources it creates or references."""
    if method not in ("PUT", "PATCH") or not isinstance(body, dict):
        return []
    lowered = path.lower()
    if "/providers/microsoft.compute/virtualmachines/" in lowered:
        return [Need(ASSIGN_IDENTITY, rid, linked=True) for rid in _identity_ids(body)]
    if "/providers/microsoft.resources/deployments/" not in lowered or method != "PUT":
        return []
    group = _GROUP.match(path)
    assert group is not None
    sub, rg = group.group("group").split("/")[2], group.group("group").split("/")[4]
    with arm.lock:
        found = arm.store.group(sub, rg)
    if found is None:
        return []
    props = body.get("properties") or {}
    template = props.get("template") or {}
    try:
        params = arm_template.bind_parameters(template, props.get("parameters") or {})
        scope = arm_template.Scope(sub, found["name"], found["location"], params, template.get("variables") or {})
        resources = arm_template.expand_resources(template, scope)
    except (TemplateError, KeyError, TypeError, ValueError):
        return []  # the fake answers the bad template itself
    out: list[Need] = []
    for resource in resources:
        rid = f"{found['id']}/providers/{resource['type']}/{resource['name']}"
        out.append(Need(f"{resource['type']}/write", rid, linked=True))
        out += [Need(ASSIGN_IDENTITY, identity, linked=True) for identity in _identity_ids(resource)]
        props = resource.get("properties") or {}
        for config in props.get("ipConfigurations") or []:
            cp = config.get("properties") or {}
            subnet, public = _ref(cp.get("subnet")), _ref(cp.get("publicIPAddress")) or _ref(cp.get("publicIpAddress"))
            if subnet:
                out.append(Need("Microsoft.Network/virtualNetworks/subnets/join/action", subnet, linked=True))
            if public:
                out.append(Need("Microsoft.Network/publicIPAddresses/join/action", public, linked=True))
        nsg = _ref(props.get("networkSecurityGroup"))
        if nsg:
            out.append(Need("Microsoft.Network/networkSecurityGroups/join/action", nsg, linked=True))
    return out


# ---------------------------------------------------------------------- evaluation


class Rbac:
    def __init__(self, arm: FakeArm, seeded: list[Grant] | None = None) -> None:
        self.arm = arm
        self.seeded = list(seeded or [])

    def _grants(self, principal: str) -> list[tuple[str, str]]:
        """(role GUID, scope) of every assignment of `principal`."""
        with self.arm.lock:
            found = [
                (str(a["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1].lower(), str(a["properties"]["scope"]))
                for a in self.arm.store.role_assignments.values()
                if a["properties"].get("principalId") == principal
            ]
        return found + [(g.role, g.scope) for g in self.seeded if g.principal == principal]

    def _permissions(self, role: str) -> list[tuple[list[str], list[str]]]:
        """(actions, notActions) blocks of a role definition, built-in or the fake's custom."""
        if role in BUILTIN_ACTIONS:
            return [(list(BUILTIN_ACTIONS[role]), [])]
        with self.arm.lock:
            definition = json.loads(json.dumps(self.arm.store.role_definitions.get(role) or {}))
        blocks = (definition.get("properties") or {}).get("permissions") or []
        return [(list(b.get("actions") or []), list(b.get("notActions") or [])) for b in blocks]

    def allows(self, principal: str, action: str, scope: str) -> bool:
        for role, grant_scope in self._grants(principal):
            if not covers(grant_scope, scope):
                continue
            if any(matches(actions, action) and not matches(denied, action) for actions, denied in self._permissions(role)):
                return True
        return False

    def refused(self, principal: str, wanted: list[Need]) -> list[Need]:
        return [need for need in wanted if not self.allows(principal, need.action, need.scope)]

    def account_id(self, account: str) -> str | None:
        with self.arm.lock:
            found = next((a["id"] for a in self.arm.store.of_type("Microsoft.Storage/storageAccounts") if a["name"] == account), None)
        return str(found) if found else None

    def data_allows(self, principal: str, action: str, account: str, container: str | None) -> bool:
        """A Blob data action (the Blob fake's: read, list, write, delete, container)."""
        account_id = self.account_id(account)
        if account_id is None:
            return False
        scope = f"{account_id}/blobServices/default/containers/{container}" if container else account_id
        for role, grant_scope in self._grants(principal):
            name = DATA_ROLES.get(role)
            if name and action in ROLES[name] and covers(grant_scope, scope):
                return True
        return False
