"""Azure spec -> Ray autoscaler config (pure).

Ray's Azure provider deploys each VM from its own ARM template (azure-vm-template.json),
driven by `node_config.azure_arm_parameters`. That template has a parameter for accelerated
networking (`enableAcceleratedNetworking`), which is set here per node type. It has none for
a proximity placement group, ARM rejects unknown parameters, and the provider reads the
template from Ray's package directory with no option to replace it. Ray's bootstrap also
deploys its own NSG (SSH from anywhere) and gives the nodes Contributor on the group.

So the cluster runs on rlcloud's node provider, a subclass of Ray's, named here through
`provider.type: external` (provisioner/clouds/azure/ray_node_provider.py says how it works).
"Our own templates" alone would not do: Ray's provider cannot be pointed at another template,
and its bootstrap would still run. The subclass keeps all of Ray's node logic, and:
  - adds the `proximityPlacementGroup` parameter to Ray's template at deploy time (set here
    for node types in the placement group), tags each NIC and public IP like its VM, and
    deletes the OS disk and NIC with the VM;
  - gives the identity in `provider.msi` (the autoscaler's role) to the head only: Ray's
    template has one `msi` for every VM; workers, which run model-generated code, get
    `provider.worker_msi` (checkpoint container only) when checkpoints go to az://, and
    no identity otherwise;
  - skips Ray's bootstrap of NSG / VNet / identity: `up` made them (ids in `provider`);
  - never deletes shared resources on `ray down`: `rlcloud down` owns them.
The provider's modules ship to the head through `file_mounts` (azure_head_shipping.py).
"""

from __future__ import annotations

import shlex
from typing import Any

from provisioner import naming
from provisioner.compile import azure_head_shipping as head_shipping
from provisioner.compile.common import base_config, node_type_entry, ship_to_head
from provisioner.compile.context import CompileContext, pending
from provisioner.images import AZURE_CPU_IMAGE, AZURE_GPU_IMAGE, azure_image_parts
from provisioner.refs import AzureRefs
from provisioner.spec.models import AzureClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes


def resource_group(spec: AzureClusterSpec, refs: AzureRefs) -> str:
    return refs.resource_group or spec.resource_group or naming.azure_resource_group(spec.name)


# Parameter rlcloud's node provider adds to Ray's VM template (see ray_node_provider.py).
PPG_PARAMETER = "proximityPlacementGroup"


def node_config(spec: AzureClusterSpec, node: ResolvedNode, refs: AzureRefs) -> dict[str, Any]:
    inst = node.instance
    assert inst is not None
    image = node.image or (AZURE_GPU_IMAGE if inst.has_gpu else AZURE_CPU_IMAGE)
    params: dict[str, Any] = {
        "vmSize": inst.name,
        "osDiskSize": node.disk_gb or 0,  # Ray's template: 0 keeps the image's size
        "enableAcceleratedNetworking": node.fast_networking,
        **azure_image_parts(image),
    }
    if node.spot:
        params.update({"priority": "Spot", "evictionPolicy": "Delete", "billingProfile": {"maxPrice": -1}})
    if spec.zone:
        params["availability_zone"] = spec.zone
    if node.placement:
        params[PPG_PARAMETER] = refs.ppg_id or pending("proximity_placement_group_id")
    # Ray merges these into each VM's tags; the node provider copies them onto NICs and IPs.
    return {"azure_arm_parameters": params, "tags": naming.azure_tags(spec.name)}


def provider_config(spec: AzureClusterSpec, refs: AzureRefs) -> dict[str, Any]:
    rg = resource_group(spec, refs)
    provider: dict[str, Any] = {
        "type": "external",
        "module": head_shipping.PROVIDER_MODULE,
        "location": spec.region,
        "resource_group": rg,
        "subscription_id": spec.subscription_id,
        "cache_stopped_nodes": False,
        "use_internal_ips": spec.network.use_internal_ips,
        # Ray's provider names and wires every VM from these (its bootstrap would make its own).
        "unique_id": naming.azure_unique_id(spec.name, rg),
        "msi": spec.identity.managed_identity or refs.identity_id or pending("managed_identity_id"),
        "nsg": refs.nsg_id or pending("network_security_group_id"),
        "subnet": refs.subnet_id or pending("subnet_id"),
    }
    location = spec.storage.location
    if location is not None and location.scheme == "az":
        # Read by rlcloud's node provider: the identity worker VMs get instead of `msi`.
        provider["worker_msi"] = refs.worker_identity_id or pending("worker_identity_id")
    return provider


def compile_azure(spec: AzureClusterSpec, ctx: CompileContext, refs: AzureRefs | None = None) -> dict[str, Any]:
    refs = refs or AzureRefs()
    nodes = resolve_nodes(spec)
    config = base_config(spec, nodes, ctx)
    config["provider"] = provider_config(spec, refs)
    config["auth"] = {
        "ssh_user": spec.ssh_user,
        "ssh_private_key": str(ctx.ssh_private_key),
        "ssh_public_key": str(ctx.ssh_public_key),
    }
    # The autoscaler on the head runs rlcloud's node provider: ship it, install the Azure SDK
    # it needs, and put it on the import path of `ray start` (whose child the autoscaler is).
    # A preinstalled image promises nodes that need no PyPI: it carries the SDK too.
    packages = () if spec.ray.preinstalled else head_shipping.HEAD_PIP_PACKAGES
    ship_to_head(config, head_shipping.modules(), packages, head_shipping.head_env(refs.identity_client_id))
    if refs.worker_identity_client_id:
        # DefaultAzureCredential on a worker picks the workers' identity by its client id.
        export = f"export AZURE_CLIENT_ID={shlex.quote(refs.worker_identity_client_id)};"
        config["worker_start_ray_commands"] = [
            f"{export} {command}" if "ray start" in command else command for command in config["worker_start_ray_commands"]
        ]
    for node in nodes:
        config["available_node_types"][node.ray_name] = node_type_entry(node, node_config(spec, node, refs))
    return config
