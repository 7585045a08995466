"""Worker VMs that still carry the cluster's identity, and taking it off them.

Until workers went without an identity, Ray's template gave every VM the cluster's one, so
code on a worker could use the autoscaler's role. Workers launched now get none
(vm_template.py); for a cluster launched before, `up` finds the cluster's worker VMs that
still carry it (Ray tags each VM with its cluster and node kind) and removes it in place: Azure
detaches a user-assigned identity from a running VM without a restart. The plan lists each VM.
Any other identity someone gave such a VM is left on it.
"""

from __future__ import annotations

from typing import Any

from provisioner.clouds.azure.arm import get_or_none, rest_json
from provisioner.clouds.azure.converge import ArmJson, Step
from provisioner.clouds.azure.head import NODE_KIND_HEAD, TAG_RAY_CLUSTER_NAME, TAG_RAY_NODE_KIND
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients

DRIFT = "take off the cluster's identity: workers never carry the head's"


def _user_assigned(vm: ArmJson) -> dict[str, Any]:
    return (vm.get("identity") or {}).get("userAssignedIdentities") or {}


def carries(vm: ArmJson, identity_id: str) -> bool:
    return any(key.lower() == identity_id.lower() for key in _user_assigned(vm))


def without(vm: ArmJson, identity_id: str) -> ArmJson:
    """The PATCH body that takes `identity_id` off the VM and keeps any other identity: ARM
    removes a user-assigned identity given as null, and type None removes them all."""
    identity = vm.get("identity") or {}
    others = [key for key in _user_assigned(vm) if key.lower() != identity_id.lower()]
    system = "SystemAssigned" in str(identity.get("type", ""))
    kinds = [kind for kind, present in (("SystemAssigned", system), ("UserAssigned", bool(others))) if present]
    if not kinds:
        return {"identity": {"type": "None"}}
    ours = next(key for key in _user_assigned(vm) if key.lower() == identity_id.lower())
    return {"identity": {"type": ", ".join(kinds), "userAssignedIdentities": {ours: None}}}


def workers_carrying(layout: AzureLayout, clients: ArmClients) -> list[str]:
    """Names of the cluster's worker VMs that carry its identity."""
    found = []
    for item in clients.compute().virtual_machines.list(layout.resource_group):
        vm = rest_json(item)
        tags = vm.get("tags") or {}
        if tags.get(TAG_RAY_CLUSTER_NAME) != layout.cluster or tags.get(TAG_RAY_NODE_KIND) == NODE_KIND_HEAD:
            continue
        if carries(vm, layout.identity_id):
            found.append(str(vm["name"]))
    return sorted(found)


def worker_step(layout: AzureLayout, clients: ArmClients, name: str) -> Step:
    machines = clients.compute().virtual_machines
    rg, identity_id = layout.resource_group, layout.identity_id

    def put() -> ArmJson:
        current = rest_json(machines.get(rg, name))
        return rest_json(machines.begin_update(rg, name, without(current, identity_id)).result())

    return Step(
        "virtual_machine",
        name,
        # A VM Ray deleted since the listing reads as one without the identity: nothing to do.
        lambda: get_or_none(lambda: machines.get(rg, name)) or {"name": name},
        put=put,
        drift=lambda vm: DRIFT if carries(vm, identity_id) else None,
        recorded=False,  # Ray's VM: `down` finds it by its tags, not from the state
    )
