"""Finding the running head VM of a cluster and the address to SSH to.

Ray tags the VMs it launches (ray-cluster-name, and the node kind under the key
ray-node-type); the head is the one of kind head whose power state is running. Tags are read from the VM list first, so only
the head's instance view, NIC and public IP are fetched, not every VM's in a shared group.
"""

from __future__ import annotations

from provisioner.clouds.azure.arm import get_or_none, rest_json
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients

# Ray's tags (ray.autoscaler.tags: TAG_RAY_CLUSTER_NAME, TAG_RAY_NODE_KIND, NODE_KIND_HEAD),
# spelled out so finding the head needs no Ray import; a test holds them equal to Ray's.
TAG_RAY_CLUSTER_NAME = "ray-cluster-name"
TAG_RAY_NODE_KIND = "ray-node-type"
NODE_KIND_HEAD = "head"


def _is_running(clients: ArmClients, rg: str, vm_name: str) -> bool:
    view = get_or_none(lambda: clients.compute().virtual_machines.instance_view(rg, vm_name)) or {}
    codes = [str(s.get("code", "")) for s in view.get("statuses") or []]
    return "PowerState/running" in codes


def head_address(layout: AzureLayout, clients: ArmClients) -> str | None:
    rg = layout.resource_group
    compute, network = clients.compute(), clients.network()
    if get_or_none(lambda: clients.resource().resource_groups.get(rg)) is None:
        return None
    for item in compute.virtual_machines.list(rg):
        vm = rest_json(item)
        tags = vm.get("tags") or {}
        if tags.get(TAG_RAY_CLUSTER_NAME) != layout.cluster or tags.get(TAG_RAY_NODE_KIND) != NODE_KIND_HEAD:
            continue
        if not _is_running(clients, rg, vm["name"]):
            continue
        nics = ((vm.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []
        if not nics:
            continue
        nic = rest_json(network.network_interfaces.get(rg, nics[0]["id"].rsplit("/", 1)[-1]))
        ip_config = ((nic.get("properties") or {}).get("ipConfigurations") or [{}])[0].get("properties") or {}
        if layout.use_internal_ips:
            return ip_config.get("privateIPAddress")
        public = (ip_config.get("publicIPAddress") or {}).get("id")
        if public:
            address = rest_json(network.public_ip_addresses.get(rg, public.rsplit("/", 1)[-1]))
            return (address.get("properties") or {}).get("ipAddress")
    return None
