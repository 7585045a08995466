"""rlcloud's additions to Ray's VM ARM template, applied to each deployment as it is sent.

Ray's template (ray/autoscaler/_private/_azure/azure-vm-template.json) is taken as Ray ships
it, and changed in three ways:
  - a `proximityPlacementGroup` parameter, set on the VM, when the node type asks for one
    (Ray's template has no such parameter, and ARM rejects parameters a template lacks);
  - the VM's tags (Ray's, plus rlcloud-cluster / rlcloud-managed from the node config) on
    its NIC and public IP, so `rlcloud down` finds them by tag even if Ray's own cleanup of a
    node was interrupted;
  - deleteOption=Delete on the OS disk and NIC: deleting the VM deletes them with it.
Accelerated networking needs nothing here: Ray's template already has
`enableAcceleratedNetworking`, which the compiler sets per node type.

Shipped to the head with the node provider: standard library only.
"""

from __future__ import annotations

import copy
from typing import Any

PPG_PARAMETER = "proximityPlacementGroup"
VM = "microsoft.compute/virtualmachines"
TAGGED_WITH_VM = ("microsoft.network/networkinterfaces", "microsoft.network/publicipaddresses")


def extend_template(template: dict[str, Any], with_ppg: bool) -> dict[str, Any]:
    """A copy of Ray's VM template with rlcloud's additions."""
    template = copy.deepcopy(template)
    if with_ppg:
        template["parameters"].setdefault(
            PPG_PARAMETER,
            {"type": "string", "metadata": {"description": "Resource id of the proximity placement group (rlcloud)."}},
        )
    for resource in template["resources"]:
        kind = str(resource.get("type", "")).lower()
        if kind in TAGGED_WITH_VM:
            resource.setdefault("tags", "[parameters('vmTags')]")
        if kind != VM:
            continue
        props = resource["properties"]
        props["storageProfile"]["osDisk"]["deleteOption"] = "Delete"
        for nic in props["networkProfile"]["networkInterfaces"]:
            nic.setdefault("properties", {})["deleteOption"] = "Delete"
        if with_ppg:
            props["proximityPlacementGroup"] = {"id": f"[parameters('{PPG_PARAMETER}')]"}
    return template


def extend_deployment(parameters: dict[str, Any]) -> dict[str, Any]:
    """The body of a VM deployment Ray's provider built, with the template extended to take the
    parameters the node config passed."""
    props = parameters["properties"]
    with_ppg = PPG_PARAMETER in (props.get("parameters") or {})
    return {**parameters, "properties": {**props, "template": extend_template(props["template"], with_ppg)}}
