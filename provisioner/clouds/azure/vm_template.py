"""rlcloud's additions to Ray's VM ARM template, applied to each deployment as it is sent.

Ray's template (ray/autoscaler/_private/_azure/azure-vm-template.json) is taken as Ray ships
it, and changed in four ways:
  - a `proximityPlacementGroup` parameter, set on the VM, when the node type asks for one
    (Ray's template has no such parameter, and ARM rejects parameters a template lacks);
  - the VM's tags (Ray's, plus rlcloud-cluster / rlcloud-managed from the node config) on
    its NIC and public IP, so `rlcloud down` finds them by tag even if Ray's own cleanup of a
    node was interrupted;
  - deleteOption=Delete on the OS disk and NIC: deleting the VM deletes them with it;
  - for workers, no identity at all. Ray's template gives every VM the one identity in
    `provider.msi` (the head's, which holds the autoscaler role); workers run model-generated
    code and checkpoint to S3 with credentials the job brings, so they need no Azure access.
    The `identity` of every resource is dropped, and so is each parameter only it used (Ray
    passes `msi` for every VM; ARM rejects a value for a parameter the template lacks).
    Written against what the template says, not its exact text: a renamed parameter or a
    moved identity is still removed, and a parameter something else still uses is kept.
Accelerated networking needs nothing here: Ray's template already has
`enableAcceleratedNetworking`, which the compiler sets per node type.

Shipped to the head with the node provider: standard library only.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

PPG_PARAMETER = "proximityPlacementGroup"
VM = "microsoft.compute/virtualmachines"
TAGGED_WITH_VM = ("microsoft.network/networkinterfaces", "microsoft.network/publicipaddresses")


PARAMETER_REF = re.compile(r"parameters\(\s*'([^']+)'\s*\)", re.IGNORECASE)


def _referenced(value: Any) -> set[str]:
    """Lower-cased names of the parameters an ARM value refers to (ARM names are case-insensitive)."""
    return {name.lower() for name in PARAMETER_REF.findall(json.dumps(value))}


def _drop_identities(template: dict[str, Any]) -> None:
    """Drop every resource's identity in place, and the declarations of the parameters only
    those identities used."""
    removed = [resource.pop("identity") for resource in template["resources"] if "identity" in resource]
    orphans = _referenced(removed) - _referenced({k: v for k, v in template.items() if k != "parameters"})
    template["parameters"] = {name: spec for name, spec in template["parameters"].items() if name.lower() not in orphans}


def extend_template(template: dict[str, Any], with_ppg: bool, with_identity: bool = True) -> dict[str, Any]:
    """A copy of Ray's VM template with rlcloud's additions; `with_identity` False for workers."""
    template = copy.deepcopy(template)
    if not with_identity:
        _drop_identities(template)
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


def extend_deployment(parameters: dict[str, Any], with_identity: bool) -> dict[str, Any]:
    """The body of a VM deployment Ray's provider built, with the template extended to take the
    parameters the node config passed; `with_identity` False (workers) also drops the values
    of the parameters only the identity used."""
    props = parameters["properties"]
    values = dict(props.get("parameters") or {})
    template = extend_template(props["template"], PPG_PARAMETER in values, with_identity)
    dropped = {name.lower() for name in props["template"]["parameters"]} - {name.lower() for name in template["parameters"]}
    values = {name: value for name, value in values.items() if name.lower() not in dropped}
    return {**parameters, "properties": {**props, "template": template, "parameters": values}}
