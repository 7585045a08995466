"""rlcloud's additions to Ray's VM ARM template, applied to each deployment as it is sent.

Ray's template (ray/autoscaler/_private/_azure/azure-vm-template.json) is taken as Ray ships
it, and changed in four ways:
  - a `proximityPlacementGroup` parameter, set on the VM, when the node type asks for one
    (Ray's template has no such parameter, and ARM rejects parameters a template lacks);
  - the VM's tags (Ray's, plus rlcloud-cluster / rlcloud-managed from the node config) on
    its NIC and public IP, so `rlcloud down` finds them by tag even if Ray's own cleanup of a
    node was interrupted;
  - deleteOption=Delete on the OS disk and NIC: deleting the VM deletes them with it;
  - for workers, never the head's identity. Ray's template gives every VM the one identity
    in `provider.msi` (the head's, which holds the autoscaler role); workers run
    model-generated code. With az:// checkpoints they get the workers' identity
    (`provider.worker_msi`, checkpoint container only) as the value of the parameters only
    the identity uses; should that swap not be clean (the head's id still in the body), or
    without a worker identity, they get no identity at all:
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


def _identity_parameters(template: dict[str, Any]) -> set[str]:
    """Lower-cased names of the parameters only the resources' identities use."""
    identities = [resource["identity"] for resource in template["resources"] if "identity" in resource]
    return (
        _referenced(identities)
        - _referenced({k: v for k, v in template.items() if k not in ("parameters", "resources")})
        - _referenced([{k: v for k, v in resource.items() if k != "identity"} for resource in template["resources"]])
    )


def with_worker_identity(parameters: dict[str, Any], worker_identity: str) -> dict[str, Any] | None:
    """The deployment with `worker_identity` as the value of every parameter only the VM's
    identity uses (Ray's `msi`), or None when that cannot be done safely: no such parameter,
    or a value it replaced still appears in the body. The caller then gives no identity."""
    props = parameters["properties"]
    values = dict(props.get("parameters") or {})
    names = _identity_parameters(props["template"])
    present = [name for name in values if name.lower() in names]
    if not present:
        return None
    replaced = {json.dumps(values[name]["value"]) for name in present if isinstance(values[name], dict) and "value" in values[name]}
    values.update({name: {"value": worker_identity} for name in present})
    body = {**parameters, "properties": {**props, "parameters": values}}
    text = json.dumps(body).lower()
    if any(old.lower() in text and old != json.dumps(worker_identity) for old in replaced):
        return None
    return body


def extend_deployment(parameters: dict[str, Any], with_identity: bool, worker_identity: str | None = None) -> dict[str, Any]:
    """The body of a VM deployment Ray's provider built, with the template extended to take the
    parameters the node config passed. `with_identity` False (workers): the VM gets
    `worker_identity` instead of the one Ray passed (the head's) when there is one and it can
    be swapped in safely, and no identity at all otherwise (the parameters only the
    identity used are dropped with their values)."""
    if not with_identity and worker_identity:
        swapped = with_worker_identity(parameters, worker_identity)
        if swapped is not None:
            props = swapped["properties"]
            template = extend_template(props["template"], PPG_PARAMETER in (props.get("parameters") or {}), True)
            return {**swapped, "properties": {**props, "template": template}}
    props = parameters["properties"]
    values = dict(props.get("parameters") or {})
    template = extend_template(props["template"], PPG_PARAMETER in values, with_identity)
    dropped = {name.lower() for name in props["template"]["parameters"]} - {name.lower() for name in template["parameters"]}
    values = {name: value for name, value in values.items() if name.lower() not in dropped}
    return {**parameters, "properties": {**props, "template": template, "parameters": values}}
