"""The fake's memory: ARM resources by id, with the behaviour of each type rlcloud (and Ray's
node provider) touches. Ids and JSON follow ARM's REST shapes; refusals follow Azure's codes
(a resource group that is not there, an NSG still on a subnet, a role still assigned, ...)
so that order and idempotence bugs fail here as they would in Azure.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import re
import uuid
from collections.abc import Callable
from typing import Any

from tests.azure.fake_arm import template as arm_template
from tests.azure.fake_arm.errors import ArmError, bad_request, group_not_found, not_found

Json = dict[str, Any]
TENANT_ID = "72f988bf-0000-0000-0000-000000000001"
SERVICE_TAGS = {"*", "virtualnetwork", "internet", "azureloadbalancer"}
# Built-in roles every tenant has (by GUID), the ones rlcloud assigns.
BUILTIN_ROLES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
}
STORAGE_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def _lower(text: str) -> str:
    return text.rstrip("/").lower()


def _ref_id(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else None


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


class ArmStore:
    def __init__(self) -> None:
        self.resources: dict[str, Json] = {}  # lower(id) -> resource JSON (groups included)
        self.role_definitions: dict[str, Json] = {}  # lower(guid) -> JSON
        self.role_assignments: dict[str, Json] = {}  # lower(id) -> JSON
        self.instance_state: dict[str, str] = {}  # lower(vm id) -> PowerState
        self._public_ips = itertools.count(10)
        self._private_ips: dict[str, itertools.count[int]] = {}
        # Called with (method, resource id) for resources a deployment creates, so injected
        # faults also reach what a template deploys (AllocationFailed on the VM, ...).
        self.internal_fault_check: Callable[[str, str], None] = lambda method, rid: None

    # ------------------------------------------------------------------ lookups
    def get(self, rid: str) -> Json | None:
        return self.resources.get(_lower(rid))

    def in_group(self, sub: str, group: str) -> list[Json]:
        prefix = _lower(f"/subscriptions/{sub}/resourceGroups/{group}/providers/")
        return [r for k, r in self.resources.items() if k.startswith(prefix)]

    def of_type(self, kind: str) -> list[Json]:
        return [r for r in self.resources.values() if r.get("type", "").lower() == kind.lower()]

    def group(self, sub: str, name: str) -> Json | None:
        return self.get(f"/subscriptions/{sub}/resourceGroups/{name}")

    def require_group(self, sub: str, name: str) -> Json:
        group = self.group(sub, name)
        if group is None:
            raise group_not_found(name)
        return group

    def require(self, rid: str | None, what: str) -> Json:
        found = self.get(rid or "")
        if found is None:
            raise bad_request("InvalidResourceReference", f"Resource {rid} referenced by {what} was not found.")
        return found

    # ------------------------------------------------------------------ resource groups
    def put_group(self, sub: str, name: str, body: Json) -> tuple[Json, bool]:
        rid = f"/subscriptions/{sub}/resourceGroups/{name}"
        existing = self.get(rid)
        group = {
            "id": rid,
            "name": existing["name"] if existing else name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": body.get("location") or (existing or {}).get("location"),
            "tags": body.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"},
        }
        self.resources[_lower(rid)] = group
        return group, existing is None

    def delete_group(self, sub: str, name: str) -> None:
        group = self.require_group(sub, name)
        prefix = _lower(group["id"]) + "/"
        for key in [k for k in self.resources if k.startswith(prefix)]:
            del self.resources[key]
        for key in [k for k in self.role_assignments if k.startswith(prefix)]:
            del self.role_assignments[key]
        del self.resources[_lower(group["id"])]

    # ------------------------------------------------------------------ tracked resources
    def put_resource(self, sub: str, group: str, namespace: str, kind: str, name: str, body: Json) -> tuple[Json, bool]:
        group_json = self.require_group(sub, group)
        rid = f"/subscriptions/{sub}/resourceGroups/{group_json['name']}/providers/{namespace}/{kind}/{name}"
        existing = self.get(rid)
        resource = _drop_nones(copy.deepcopy(body))
        resource.update({"id": rid, "name": name, "type": f"{namespace}/{kind}"})
        resource.setdefault("location", group_json["location"])
        resource.setdefault("tags", {})
        props = resource.setdefault("properties", {})
        props["provisioningState"] = "Succeeded"
        hook = PUT_HOOKS.get(f"{namespace}/{kind}".lower())
        if hook:
            hook(self, resource, existing)
        self.resources[_lower(rid)] = resource
        return resource, existing is None

    def patch_identity(self, resource: Json, identity: Json) -> None:
        """ARM's PATCH of a resource's identity: type None removes every identity; a
        user-assigned identity given as null is removed, others are added (they must exist)."""
        if str(identity.get("type", "")).lower() == "none":
            resource.pop("identity", None)
            return
        current = dict((resource.get("identity") or {}).get("userAssignedIdentities") or {})
        for rid, value in (identity.get("userAssignedIdentities") or {}).items():
            if value is None:
                current = {k: v for k, v in current.items() if _lower(k) != _lower(rid)}
            else:
                self.require(rid, resource["id"])
                current[rid] = {}
        patched: Json = {"type": identity.get("type", (resource.get("identity") or {}).get("type"))}
        if current:
            patched["userAssignedIdentities"] = current
        resource["identity"] = patched

    def delete_resource(self, rid: str) -> bool:
        resource = self.get(rid)
        if resource is None:
            return False
        hook = DELETE_HOOKS.get(resource["type"].lower())
        if hook:
            hook(self, resource)
        self.resources.pop(_lower(rid), None)
        # Child resources and the role assignments at the resource's scope go with it.
        prefix = _lower(rid) + "/"
        for key in [k for k in self.resources if k.startswith(prefix)]:
            del self.resources[key]
        for key in [k for k in self.role_assignments if k.startswith(prefix)]:
            del self.role_assignments[key]
        return True

    def put_child(self, parent_id: str, path: str, body: Json) -> tuple[Json, bool]:
        """A child of a storage account: blobServices/default or .../containers/NAME."""
        parent = self.get(parent_id)
        if parent is None:
            raise not_found_for(parent_id)
        parts = path.strip("/").split("/")
        rid = f"{parent['id']}/{path.strip('/')}"
        if len(parts) == 4 and self.get(f"{parent['id']}/blobServices/default") is None:
            self.put_child(parent_id, "blobServices/default", {})
        if len(parts) == 4 and not re.match(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$", parts[-1]):
            raise bad_request("ContainerOperationFailure", "The specifed resource name contains invalid characters.")
        existing = self.get(rid)
        child = {
            "id": rid,
            "name": parts[-1],
            "type": f"{parent['type']}/{'/'.join(parts[0::2])}",
            "properties": {**((existing or {}).get("properties") or {}), **copy.deepcopy(body.get("properties") or {})},
        }
        self.resources[_lower(rid)] = child
        return child, existing is None

    def view(self, resource: Json) -> Json:
        """What GET returns: the stored JSON plus back-references Azure computes."""
        out = copy.deepcopy(resource)
        kind = resource.get("type", "").lower()
        if kind == "microsoft.compute/proximityplacementgroups":
            out["properties"]["virtualMachines"] = [
                {"id": vm["id"]}
                for vm in self.of_type("Microsoft.Compute/virtualMachines")
                if _lower(_ref_id(vm["properties"].get("proximityPlacementGroup")) or "") == _lower(resource["id"])
            ]
        if kind == "microsoft.network/networkinterfaces":
            vm = self._vm_using_nic(resource["id"])
            if vm:
                out["properties"]["virtualMachine"] = {"id": vm["id"]}
        return out

    # ------------------------------------------------------------------ references
    def _vm_using_nic(self, nic_id: str) -> Json | None:
        for vm in self.of_type("Microsoft.Compute/virtualMachines"):
            for nic in vm["properties"].get("networkProfile", {}).get("networkInterfaces", []):
                if _lower(nic.get("id", "")) == _lower(nic_id):
                    return vm
        return None

    def nics(self) -> list[Json]:
        return self.of_type("Microsoft.Network/networkInterfaces")

    def next_private_ip(self, subnet: Json) -> str:
        prefix = subnet["properties"].get("addressPrefix") or subnet["properties"]["addressPrefixes"][0]
        counter = self._private_ips.setdefault(_lower(subnet["id"]), itertools.count(4))  # Azure keeps .0-.3
        return str(ipaddress.ip_network(prefix)[next(counter)])

    def subnet(self, subnet_id: str) -> Json | None:
        match = re.match(r"(?i)^(.*/virtualNetworks/[^/]+)/subnets/([^/]+)$", subnet_id or "")
        vnet = self.get(match.group(1)) if match else None
        if vnet is None:
            return None
        return next((s for s in vnet["properties"].get("subnets", []) if s["name"].lower() == match.group(2).lower()), None)

    # ------------------------------------------------------------------ RBAC
    def put_role_definition(self, sub: str, guid: str, body: Json) -> tuple[Json, bool]:
        props = copy.deepcopy(body.get("properties") or {})
        if not props.get("assignableScopes"):
            raise bad_request("InvalidRoleDefinition", "AssignableScopes cannot be empty.")
        for scope in props["assignableScopes"]:
            if "/resourcegroups/" in scope.lower() and self.get(scope) is None:
                raise bad_request("InvalidScope", f"The assignable scope '{scope}' does not exist.")
        for other in self.role_definitions.values():
            if other["name"] != guid and other["properties"]["roleName"] == props.get("roleName"):
                raise ArmError(
                    409,
                    "RoleDefinitionWithSameNameExists",
                    "A custom role with the same name already exists in this directory. Use a different name.",
                )
        existing = self.role_definitions.get(guid.lower())
        definition = {
            "id": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            "name": guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": props,
        }
        self.role_definitions[guid.lower()] = definition
        return definition, existing is None

    def delete_role_definition(self, guid: str) -> Json | None:
        definition = self.role_definitions.get(guid.lower())
        if definition is None:
            return None
        if any(_lower(a["properties"]["roleDefinitionId"]) == _lower(definition["id"]) for a in self.role_assignments.values()):
            raise bad_request(
                "RoleDefinitionHasAssignments", "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments)."
            )
        return self.role_definitions.pop(guid.lower())

    def principals(self) -> set[str]:
        return {r["properties"].get("principalId") for r in self.of_type("Microsoft.ManagedIdentity/userAssignedIdentities")}

    def put_role_assignment(self, scope: str, name: str, body: Json) -> tuple[Json, bool]:
        props = copy.deepcopy(body.get("properties") or {})
        if self.get(scope) is None and "/resourcegroups/" in scope.lower():
            raise group_not_found(scope.rsplit("/", 1)[-1])
        if "/providers/" in scope.lower() and self.get(scope) is None:
            raise not_found_for(scope)
        guid = props.get("roleDefinitionId", "").rsplit("/", 1)[-1].lower()
        if guid not in self.role_definitions and guid not in BUILTIN_ROLES:
            raise bad_request("RoleDefinitionDoesNotExist", f"The specified role definition with ID '{guid}' does not exist.")
        if props.get("principalId") not in self.principals():
            raise bad_request("PrincipalNotFound", f"Principal {props.get('principalId')} does not exist in the directory {TENANT_ID}.")
        rid = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        props["scope"] = scope
        existing = self.role_assignments.get(_lower(rid))
        if existing is not None:
            same = all(existing["properties"].get(k) == props.get(k) for k in ("roleDefinitionId", "principalId"))
            if not same:
                raise ArmError(
                    409, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated."
                )
            return existing, False
        for other in self.role_assignments.values():
            o = other["properties"]
            if (_lower(o["scope"]), o["principalId"], _lower(o["roleDefinitionId"])) == (
                _lower(scope),
                props["principalId"],
                _lower(props["roleDefinitionId"]),
            ):
                raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        assignment = {"id": rid, "name": name, "type": "Microsoft.Authorization/roleAssignments", "properties": props}
        self.role_assignments[_lower(rid)] = assignment
        return assignment, True

    def assignments_for(self, scope: str, at_scope_only: bool, principal: str | None) -> list[Json]:
        scope_l = _lower(scope)
        out = []
        for assignment in self.role_assignments.values():
            own = _lower(assignment["properties"]["scope"])
            above = scope_l == own or scope_l.startswith(own + "/")
            below = own.startswith(scope_l + "/")
            if not (above or (below and not at_scope_only)):
                continue
            if principal and assignment["properties"]["principalId"] != principal:
                continue
            out.append(assignment)
        return out

    # ------------------------------------------------------------------ deployments
    def deploy(self, sub: str, group: str, name: str, body: Json) -> tuple[Json, ArmError | None]:
        """Create what the template describes; returns the deployment and the failure, if any
        (resources made before a failure stay, as in Azure)."""
        group_json = self.require_group(sub, group)
        props = body.get("properties") or {}
        template = props.get("template") or {}
        params = arm_template.bind_parameters(template, props.get("parameters") or {})
        scope = arm_template.Scope(sub, group_json["name"], group_json["location"], params, template.get("variables") or {})
        resources = arm_template.expand_resources(template, scope)
        order = {"microsoft.network/publicipaddresses": 0, "microsoft.network/networkinterfaces": 1, "microsoft.compute/virtualmachines": 2}
        failure = None
        for resource in sorted(resources, key=lambda r: order.get(r["type"].lower(), 3)):
            namespace, kind = resource["type"].split("/", 1)
            rid = f"{group_json['id']}/providers/{namespace}/{kind}/{resource['name']}"
            try:
                self.internal_fault_check("PUT", rid)
                self.put_resource(sub, group_json["name"], namespace, kind, resource["name"], resource)
            except ArmError as exc:
                failure = ArmError(
                    exc.status,
                    "DeploymentFailed",
                    f"At least one resource deployment operation failed. Please list deployment operations for details. {exc.code}: {exc.message}",
                )
                break
        deployment = {
            "id": f"{group_json['id']}/providers/Microsoft.Resources/deployments/{name}",
            "name": name,
            "type": "Microsoft.Resources/deployments",
            "properties": {
                "provisioningState": "Failed" if failure else "Succeeded",
                "parameters": props.get("parameters") or {},
                "mode": props.get("mode", "Incremental"),
                "outputs": {},
            },
        }
        self.resources[_lower(deployment["id"])] = deployment
        return deployment, failure


# ---------------------------------------------------------------------- per-type behaviour


def _put_nsg(store: ArmStore, nsg: Json, existing: Json | None) -> None:
    rules = nsg["properties"].setdefault("securityRules", [])
    seen: dict[tuple[str, int], str] = {}
    for rule in rules:
        p = rule.setdefault("properties", {})
        for field in ("sourceAddressPrefixes", "destinationAddressPrefixes"):
            bad = [v for v in p.get(field) or [] if v.lower() in SERVICE_TAGS]
            if bad:
                raise bad_request(
                    "SecurityRuleParameterContainsUnsupportedValue",
                    f"Security rule parameter {field[:-2]} for rule with Id {nsg['id']}/securityRules/{rule['name']} cannot specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. Unsupported value used: {bad[0]}.",
                )
        if not 100 <= int(p.get("priority", 0)) <= 4096:
            raise bad_request(
                "SecurityRuleInvalidPriority",
                f"Security rule {rule['name']} has invalid priority {p.get('priority')}. Value provided: {p.get('priority')} Allowed range 100-4096.",
            )
        key = (p.get("direction", ""), int(p["priority"]))
        if key in seen:
            raise bad_request(
                "SecurityRuleConflict",
                f"Security rule {rule['name']} conflicts with rule {seen[key]}. Rules cannot have the same Priority and Direction.",
            )
        seen[key] = rule["name"]
        rule["id"] = f"{nsg['id']}/securityRules/{rule['name']}"
        p["provisioningState"] = "Succeeded"
    nsg["properties"]["defaultSecurityRules"] = DEFAULT_NSG_RULES


def _default_rule(name: str, priority: int, direction: str, access: str, source: str, destination: str) -> Json:
    return {
        "name": name,
        "properties": {
            "priority": priority,
            "direction": direction,
            "access": access,
            "protocol": "*",
            "sourceAddressPrefix": source,
            "sourcePortRange": "*",
            "destinationAddressPrefix": destination,
            "destinationPortRange": "*",
        },
    }


# The rules Azure puts in every NSG, below any custom rule.
DEFAULT_NSG_RULES = [
    _default_rule("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default_rule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    _default_rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    _default_rule("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default_rule("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    _default_rule("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
]


def _put_vnet(store: ArmStore, vnet: Json, existing: Json | None) -> None:
    space = [ipaddress.ip_network(p) for p in vnet["properties"].get("addressSpace", {}).get("addressPrefixes", [])]
    for subnet in vnet["properties"].setdefault("subnets", []):
        subnet["id"] = f"{vnet['id']}/subnets/{subnet['name']}"
        props = subnet.setdefault("properties", {})
        props["provisioningState"] = "Succeeded"
        prefix = ipaddress.ip_network(props.get("addressPrefix") or props["addressPrefixes"][0])
        if not any(prefix.subnet_of(s) for s in space):
            raise bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                f"Subnet '{subnet['name']}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet['name']}'.",
            )
        nsg = _ref_id(props.get("networkSecurityGroup"))
        if nsg:
            store.require(nsg, f"subnet {subnet['name']}")
    if existing:  # a subnet with NICs in it may not disappear from the VNet
        kept = {s["name"].lower() for s in vnet["properties"]["subnets"]}
        for old in existing["properties"].get("subnets", []):
            if old["name"].lower() not in kept and _subnet_in_use(store, old["id"]):
                raise bad_request("InUseSubnetCannotBeDeleted", f"Subnet {old['name']} is in use and cannot be deleted.")


def _subnet_in_use(store: ArmStore, subnet_id: str) -> bool:
    return any(
        _lower(_ref_id(c.get("properties", {}).get("subnet")) or "") == _lower(subnet_id)
        for nic in store.nics()
        for c in nic["properties"].get("ipConfigurations", [])
    )


def _put_identity(store: ArmStore, identity: Json, existing: Json | None) -> None:
    kept = (existing or {}).get("properties") or {}
    identity["properties"].update(
        {
            "principalId": kept.get("principalId") or str(uuid.uuid4()),
            "clientId": kept.get("clientId") or str(uuid.uuid4()),
            "tenantId": TENANT_ID,
        }
    )


def _put_public_ip(store: ArmStore, address: Json, existing: Json | None) -> None:
    kept = ((existing or {}).get("properties") or {}).get("ipAddress")
    address["properties"]["ipAddress"] = kept or f"20.1.0.{next(store._public_ips)}"


def _put_nic(store: ArmStore, nic: Json, existing: Json | None) -> None:
    for config in nic["properties"].get("ipConfigurations", []):
        props = config.setdefault("properties", {})
        config["id"] = f"{nic['id']}/ipConfigurations/{config['name']}"
        subnet = store.subnet(_ref_id(props.get("subnet")) or "")
        if subnet is None:
            raise bad_request(
                "InvalidResourceReference", f"Resource {_ref_id(props.get('subnet'))} referenced by resource {nic['id']} was not found."
            )
        public = _ref_id(props.get("publicIPAddress")) or _ref_id(props.get("publicIpAddress"))
        if public:
            store.require(public, nic["id"])
            props.pop("publicIpAddress", None)
            props["publicIPAddress"] = {"id": public}
        old = next((c for c in ((existing or {}).get("properties") or {}).get("ipConfigurations", []) if c["name"] == config["name"]), None)
        props["privateIPAddress"] = (old or {}).get("properties", {}).get("privateIPAddress") or store.next_private_ip(subnet)
    nsg = _ref_id(nic["properties"].get("networkSecurityGroup"))
    if nsg:
        store.require(nsg, nic["id"])
    nic["properties"]["enableAcceleratedNetworking"] = bool(nic["properties"].get("enableAcceleratedNetworking", False))


def _put_vm(store: ArmStore, vm: Json, existing: Json | None) -> None:
    props = vm["properties"]
    for nic in props.get("networkProfile", {}).get("networkInterfaces", []):
        store.require(nic.get("id"), vm["id"])
    ppg = _ref_id(props.get("proximityPlacementGroup"))
    if ppg:
        store.require(ppg, vm["id"])
    for identity in (vm.get("identity") or {}).get("userAssignedIdentities", {}):
        store.require(identity, vm["id"])
    os_disk = props.setdefault("storageProfile", {}).setdefault("osDisk", {})
    if existing is None:
        disk_name = os_disk.get("name") or f"{vm['name']}_OsDisk_1_{uuid.uuid4().hex}"
        group = vm["id"].split("/")[4]
        disk, _ = store.put_resource(
            vm["id"].split("/")[2],
            group,
            "Microsoft.Compute",
            "disks",
            disk_name,
            {"location": vm["location"], "properties": {"diskSizeGB": os_disk.get("diskSizeGB") or 30}},
        )
        disk["managedBy"] = vm["id"]
        os_disk["name"] = disk_name
        os_disk.setdefault("managedDisk", {})["id"] = disk["id"]
    else:
        os_disk.update({k: v for k, v in existing["properties"]["storageProfile"]["osDisk"].items() if k in ("name", "managedDisk")})
    props["vmId"] = (existing or {}).get("properties", {}).get("vmId") or str(uuid.uuid4())
    store.instance_state[_lower(vm["id"])] = "running"


def _put_storage_account(store: ArmStore, account: Json, existing: Json | None) -> None:
    name = account["name"]
    if not STORAGE_ACCOUNT_NAME.match(name):
        raise bad_request(
            "AccountNameInvalid",
            f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.",
        )
    if existing is None and any(a["name"] == name for a in store.of_type("Microsoft.Storage/storageAccounts")):
        raise ArmError(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")
    if not account.get("sku") or not account.get("kind"):
        raise bad_request("MissingRequiredProperty", "sku and kind are required.")
    props = account["properties"]
    props.setdefault("allowBlobPublicAccess", True)  # Azure's old default
    props.setdefault("minimumTlsVersion", "TLS1_0")
    props.setdefault("supportsHttpsTrafficOnly", True)
    props["primaryEndpoints"] = {"blob": f"https://{name}.blob.core.windows.net/"}


def _put_ppg(store: ArmStore, ppg: Json, existing: Json | None) -> None:
    ppg["properties"].setdefault("proximityPlacementGroupType", "Standard")


PUT_HOOKS: dict[str, Callable[[ArmStore, Json, Json | None], None]] = {
    "microsoft.network/networksecuritygroups": _put_nsg,
    "microsoft.network/virtualnetworks": _put_vnet,
    "microsoft.network/networkinterfaces": _put_nic,
    "microsoft.network/publicipaddresses": _put_public_ip,
    "microsoft.managedidentity/userassignedidentities": _put_identity,
    "microsoft.compute/virtualmachines": _put_vm,
    "microsoft.compute/proximityplacementgroups": _put_ppg,
    "microsoft.storage/storageaccounts": _put_storage_account,
}


def _delete_nsg(store: ArmStore, nsg: Json) -> None:
    users = [n["id"] for n in store.nics() if _lower(_ref_id(n["properties"].get("networkSecurityGroup")) or "") == _lower(nsg["id"])]
    users += [
        s["id"]
        for v in store.of_type("Microsoft.Network/virtualNetworks")
        for s in v["properties"].get("subnets", [])
        if _lower(_ref_id(s.get("properties", {}).get("networkSecurityGroup")) or "") == _lower(nsg["id"])
    ]
    if users:
        raise bad_request(
            "InUseNetworkSecurityGroupCannotBeDeleted",
            f"Network security group {nsg['id']} cannot be deleted because it is in use by the following resources: {users}.",
        )


def _delete_vnet(store: ArmStore, vnet: Json) -> None:
    for subnet in vnet["properties"].get("subnets", []):
        if _subnet_in_use(store, subnet["id"]):
            raise bad_request("InUseSubnetCannotBeDeleted", f"Subnet {subnet['name']} is in use by NICs and cannot be deleted.")


def _delete_public_ip(store: ArmStore, address: Json) -> None:
    for nic in store.nics():
        for config in nic["properties"].get("ipConfigurations", []):
            if _lower(_ref_id(config["properties"].get("publicIPAddress")) or "") == _lower(address["id"]):
                raise bad_request(
                    "PublicIPAddressCannotBeDeleted",
                    f"Public IP address {address['id']} can not be deleted since it is still allocated to resource {config['id']}.",
                )


def _delete_nic(store: ArmStore, nic: Json) -> None:
    vm = store._vm_using_nic(nic["id"])
    if vm is not None:
        raise bad_request(
            "NicInUse",
            f"Network Interface {nic['id']} is used by existing resource {vm['id']}. In order to delete the network interface, it must be dissociated from the resource.",
        )


def _delete_disk(store: ArmStore, disk: Json) -> None:
    if disk.get("managedBy") and store.get(disk["managedBy"]) is not None:
        raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to VM {disk['managedBy']}.")


def _delete_ppg(store: ArmStore, ppg: Json) -> None:
    if store.view(ppg)["properties"]["virtualMachines"]:
        raise ArmError(409, "OperationNotAllowed", f"Proximity placement group {ppg['name']} cannot be deleted while virtual machines are in it.")


def _delete_vm(store: ArmStore, vm: Json) -> None:
    """The VM goes, and with it what it asked to take along (deleteOption: Delete)."""
    store.instance_state.pop(_lower(vm["id"]), None)
    store.resources.pop(_lower(vm["id"]), None)
    os_disk = vm["properties"]["storageProfile"]["osDisk"]
    disk = store.get(os_disk.get("managedDisk", {}).get("id", ""))
    if disk is not None:
        if os_disk.get("deleteOption") == "Delete":
            store.resources.pop(_lower(disk["id"]), None)
        else:
            disk.pop("managedBy", None)
    for nic in vm["properties"].get("networkProfile", {}).get("networkInterfaces", []):
        if (nic.get("properties") or {}).get("deleteOption") == "Delete":
            store.resources.pop(_lower(nic["id"]), None)


DELETE_HOOKS: dict[str, Callable[[ArmStore, Json], None]] = {
    "microsoft.network/networksecuritygroups": _delete_nsg,
    "microsoft.network/virtualnetworks": _delete_vnet,
    "microsoft.network/publicipaddresses": _delete_public_ip,
    "microsoft.network/networkinterfaces": _delete_nic,
    "microsoft.compute/disks": _delete_disk,
    "microsoft.compute/proximityplacementgroups": _delete_ppg,
    "microsoft.compute/virtualmachines": _delete_vm,
}


def not_found_for(rid: str) -> ArmError:
    """ARM's 404 for a resource id: .../resourceGroups/RG/providers/NS/TYPE/NAME[/CHILD/NAME]."""
    parts = rid.strip("/").split("/")
    if len(parts) < 8:
        return not_found("resource", parts[-1], parts[3] if len(parts) > 3 else "")
    kind = "/".join([parts[5], *parts[6::2]])
    return not_found(kind, parts[-1], parts[3])
