"""Azure spec -> Ray autoscaler config (pure).

Ray's Azure provider deploys each VM from its own ARM template, driven by
`node_config.azure_arm_parameters`; that template has no parameter for accelerated
networking or a proximity placement group, and ARM rejects unknown parameters. So the
settings Ray's template cannot express travel beside it, in `node_config.rlcloud`, which
Ray's provider ignores. The Azure provisioner (issue 6) runs the cluster through a node
provider that subclasses Ray's and deploys a template that honours them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from provisioner import naming
from provisioner.compile.common import base_config, node_type_entry
from provisioner.compile.context import CompileContext, pending
from provisioner.images import AZURE_CPU_IMAGE, AZURE_GPU_IMAGE, azure_image_parts
from provisioner.spec.models import AzureClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes


class AzureRefs(BaseModel):
    """Azure ids known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    resource_group: str | None = None
    subnet_id: str | None = None
    nsg_id: str | None = None
    identity_id: str | None = None
    identity_principal_id: str | None = None
    ppg_id: str | None = None


def resource_group(spec: AzureClusterSpec, refs: AzureRefs) -> str:
    return refs.resource_group or spec.resource_group or naming.azure_resource_group(spec.name)


def node_config(spec: AzureClusterSpec, node: ResolvedNode, refs: AzureRefs) -> dict[str, Any]:
    inst = node.instance
    assert inst is not None
    image = node.image or (AZURE_GPU_IMAGE if inst.has_gpu else AZURE_CPU_IMAGE)
    params: dict[str, Any] = {"vmSize": inst.name, "osDiskSizeGB": node.disk_gb, **azure_image_parts(image)}
    if node.spot:
        params.update({"priority": "Spot", "evictionPolicy": "Delete", "billingProfile": {"maxPrice": -1}})
    if spec.zone:
        params["availability_zone"] = spec.zone
    extras: dict[str, Any] = {
        "acceleratedNetworking": node.fast_networking,
        "tags": {naming.TAG_KEY: spec.name},
    }
    if node.placement:
        extras["proximityPlacementGroup"] = refs.ppg_id or pending("proximity_placement_group_id")
    return {"azure_arm_parameters": params, "rlcloud": extras}


def compile_azure(spec: AzureClusterSpec, ctx: CompileContext, refs: AzureRefs | None = None) -> dict[str, Any]:
    refs = refs or AzureRefs()
    nodes = resolve_nodes(spec)
    config = base_config(spec, nodes, ctx)
    config["provider"] = {
        "type": "azure",
        "location": spec.region,
        "resource_group": resource_group(spec, refs),
        "subscription_id": spec.subscription_id,
        "cache_stopped_nodes": False,
        "use_internal_ips": spec.network.use_internal_ips,
    }
    config["auth"] = {
        "ssh_user": spec.ssh_user,
        "ssh_private_key": str(ctx.ssh_private_key),
        "ssh_public_key": str(ctx.ssh_public_key),
    }
    for node in nodes:
        config["available_node_types"][node.ray_name] = node_type_entry(node, node_config(spec, node, refs))
    return config
