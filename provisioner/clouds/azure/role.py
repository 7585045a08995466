"""The role the cluster's managed identity gets: exactly what Ray's Azure autoscaler does, on
the cluster's resource group only. Only the head carries that identity; workers carry none,
or (az:// checkpoints) one of their own that can touch the checkpoint container only
(vm_template.py), so nothing a worker runs can call the management API.

Why a custom role rather than built-ins. Ray's own bootstrap assigns Contributor on the group,
which lets anything on the cluster (and Ray's Jobs API runs any command it is sent) rewrite
the NSG, open Ray's ports to the internet, or delete unrelated resources in the group. The
nearest built-ins are no better: Virtual Machine Contributor cannot create public IPs (Ray
gives every node one) and Network Contributor can rewrite NSGs. So the role lists the calls
the autoscaler makes (node_provider.py: deploy a VM template; read, tag, stop, start and delete
VMs with their NICs, public IPs and disks) and nothing else:
  - no NSG / VNet writes: nothing on the cluster can widen its own firewall;
  - no role or identity writes: it cannot grant itself more; and no identity `assign`, so
    it cannot hand its own identity to a VM it makes. When checkpoints go to Azure Blob,
    the head also holds the built-in Managed Identity Operator on the workers' identity
    alone (storage.py), which lets it launch workers carrying that identity and no other;
  - no storage: the workers' identity holds Storage Blob Data Contributor on the checkpoint
    container only; the head gets Storage Blob Data Reader there, outside this role, since
    the job's driver runs on the head and reads checkpoints (storage.py);
  - assignable only at the cluster's resource group, assigned only there.
The operator needs to be allowed to create it (Owner or User Access Administrator on the
group); the error hints say so when Azure refuses.
"""

from __future__ import annotations

from typing import Any

AUTOSCALER_ACTIONS: tuple[str, ...] = (
    # ARM deployments of Ray's VM template, and the group they go in.
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/deployments/read",
    "Microsoft.Resources/deployments/write",
    "Microsoft.Resources/deployments/operationStatuses/read",
    # The VMs, their OS disks, and polling Compute's long-running operations.
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachines/delete",
    "Microsoft.Compute/virtualMachines/instanceView/read",
    "Microsoft.Compute/virtualMachines/start/action",
    "Microsoft.Compute/virtualMachines/deallocate/action",
    "Microsoft.Compute/disks/read",
    "Microsoft.Compute/disks/write",
    "Microsoft.Compute/disks/delete",
    "Microsoft.Compute/locations/operations/read",
    # Joining the cluster's proximity placement group (the VM references it).
    "Microsoft.Compute/proximityPlacementGroups/read",
    "Microsoft.Compute/proximityPlacementGroups/write",
    # Each node's NIC and public IP; joining (not changing) the subnet and the NSG.
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/write",
    "Microsoft.Network/networkInterfaces/delete",
    "Microsoft.Network/networkInterfaces/join/action",
    "Microsoft.Network/publicIPAddresses/read",
    "Microsoft.Network/publicIPAddresses/write",
    "Microsoft.Network/publicIPAddresses/delete",
    "Microsoft.Network/publicIPAddresses/join/action",
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/networkSecurityGroups/read",
    "Microsoft.Network/networkSecurityGroups/join/action",
    "Microsoft.Network/locations/operations/read",
    "Microsoft.Network/locations/operationResults/read",
)


def role_definition_body(role_name: str, cluster: str, scope: str) -> dict[str, Any]:
    return {
        "properties": {
            "roleName": role_name,
            "description": f"Ray autoscaler of rlcloud cluster {cluster}: VMs, NICs, public IPs and disks in this resource group only",
            "type": "CustomRole",
            "permissions": [{"actions": list(AUTOSCALER_ACTIONS), "notActions": [], "dataActions": [], "notDataActions": []}],
            "assignableScopes": [scope],
        }
    }


def role_definition_drift(existing: dict[str, Any], scope: str) -> str | None:
    props = existing.get("properties") or {}
    permissions = props.get("permissions") or [{}]
    have = set(permissions[0].get("actions") or [])
    changes = []
    if have != set(AUTOSCALER_ACTIONS):
        changes.append("permissions differ")
    if [s.lower() for s in props.get("assignableScopes") or []] != [scope.lower()]:
        changes.append("assignable scopes differ")
    return ", ".join(changes) or None


def role_assignment_body(role_definition_id: str, principal_id: str, description: str = "rlcloud: the cluster's Ray autoscaler") -> dict[str, Any]:
    return {
        "properties": {
            "roleDefinitionId": role_definition_id,
            "principalId": principal_id,
            # Naming the principal type lets Azure accept a just-created identity before
            # Azure AD has replicated it (otherwise: PrincipalNotFound for a minute or so).
            "principalType": "ServicePrincipal",
            "description": description,
        }
    }
