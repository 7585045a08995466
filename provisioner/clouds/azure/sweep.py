"""Finding everything of a cluster in its resource group, as resources `down` can delete.

What belongs to the cluster is read from Azure, not from the state file, so `down` works when
the state is gone: everything carrying both rlcloud tags, plus VMs (and their NICs, public IPs
and OS disks) that Ray's provider named after the cluster (layout.is_ours). Azure refuses to
delete a resource something still references (a subnet with NICs, an NSG on a subnet, a public
IP on a NIC), so each found resource depends on every found one of a later kind in
DELETE_ORDER: the reconciler then deletes kind by kind, referrers first, each kind in parallel,
and waits out a delete Azure answers "in use" while the previous kind finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.clouds.azure.arm import ArmJson, finished, rest_json
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.clouds.reconcile import Resource, key_of

# Referrers first: VMs hold NICs, disks, the placement group and the identity; NICs hold public
# IPs, the subnet and the NSG; the VNet's subnet holds the NSG.
DELETE_ORDER: tuple[str, ...] = (
    "microsoft.compute/virtualmachines",
    "microsoft.network/networkinterfaces",
    "microsoft.network/publicipaddresses",
    "microsoft.compute/disks",
    "microsoft.network/virtualnetworks",
    "microsoft.network/networksecuritygroups",
    "microsoft.compute/proximityplacementgroups",
    "microsoft.managedidentity/userassignedidentities",
)
# ARM type -> the kind `up` records it under (state and plan), so both name it alike.
KINDS: dict[str, str] = {
    "microsoft.compute/virtualmachines": "virtual_machine",
    "microsoft.network/networkinterfaces": "network_interface",
    "microsoft.network/publicipaddresses": "public_ip_address",
    "microsoft.compute/disks": "disk",
    "microsoft.network/virtualnetworks": "virtual_network",
    "microsoft.network/networksecuritygroups": "network_security_group",
    "microsoft.compute/proximityplacementgroups": "placement_group",
    "microsoft.managedidentity/userassignedidentities": "managed_identity",
}
GENERIC_API_VERSION = "2021-04-01"  # deleting a resource of a type not listed above, by id


def _order(arm_type: str) -> int:
    return DELETE_ORDER.index(arm_type) if arm_type in DELETE_ORDER else len(DELETE_ORDER)


def kind_of(arm_type: str) -> str:
    return KINDS.get(arm_type.lower()) or arm_type.lower().rsplit("/", 1)[-1]


def _deleter(clients: ArmClients, rg: str, arm_type: str, name: str, rid: str) -> Callable[[], Any]:
    """The call that deletes one resource of the group, by its type's own client."""
    by_type: dict[str, Callable[[], Any]] = {
        "microsoft.compute/virtualmachines": lambda: clients.compute().virtual_machines.begin_delete(rg, name),
        "microsoft.network/networkinterfaces": lambda: clients.network().network_interfaces.begin_delete(rg, name),
        "microsoft.network/publicipaddresses": lambda: clients.network().public_ip_addresses.begin_delete(rg, name),
        "microsoft.compute/disks": lambda: clients.compute().disks.begin_delete(rg, name),
        "microsoft.network/virtualnetworks": lambda: clients.network().virtual_networks.begin_delete(rg, name),
        "microsoft.network/networksecuritygroups": lambda: clients.network().network_security_groups.begin_delete(rg, name),
        "microsoft.compute/proximityplacementgroups": lambda: clients.compute().proximity_placement_groups.delete(rg, name),
        "microsoft.managedidentity/userassignedidentities": lambda: clients.identity().user_assigned_identities.delete(rg, name),
    }
    return by_type.get(arm_type) or (lambda: clients.resource().resources.begin_delete_by_id(rid, GENERIC_API_VERSION))


def inventory(layout: AzureLayout, clients: ArmClients) -> list[ArmJson]:
    """The cluster's resources in its resource group, as ARM lists them."""
    listed = clients.resource().resources.list_by_resource_group(layout.resource_group)
    # Checkpoint storage is not the cluster's to sweep: teardown.py deletes it on
    # --purge-storage only (it may sit in a resource group the user named).
    return [found for found in map(rest_json, listed) if layout.is_ours(found) and str(found["type"]).lower() != "microsoft.storage/storageaccounts"]


def found_resources(layout: AzureLayout, clients: ArmClients, listed: list[ArmJson], inside: str | None) -> list[Resource[ArmJson]]:
    """One deletable resource per listed one, each after everything that refers to it;
    `inside`: the key of the resource group when `down` deletes it whole (and these with it)."""
    types = {str(found["id"]): str(found["type"]).lower() for found in listed}
    keys = {str(found["id"]): key_of(kind_of(str(found["type"])), str(found["name"])) for found in listed}
    out: list[Resource[ArmJson]] = []
    for found in sorted(listed, key=lambda f: (_order(types[str(f["id"])]), str(f["name"]))):
        arm_type = types[str(found["id"])]
        referred = tuple(keys[other] for other, other_type in types.items() if _order(other_type) > _order(arm_type))
        out.append(_listed_resource(layout, clients, found, arm_type, referred, inside))
    return out


def _listed_resource(
    layout: AzureLayout, clients: ArmClients, found: ArmJson, arm_type: str, depends_on: tuple[str, ...], inside: str | None
) -> Resource[ArmJson]:
    rid, name = str(found["id"]), str(found["name"])
    remove = _deleter(clients, layout.resource_group, arm_type, name, rid)
    return Resource(
        kind=kind_of(arm_type),
        name=name,
        read=lambda: found,  # as listed: the survey lists the group again each pass
        delete=lambda _: finished(remove()),
        owned=layout.is_ours,
        state_id=rid,
        depends_on=depends_on,
        inside=inside,
        delete_command=f"az resource delete --ids {rid}",
    )
