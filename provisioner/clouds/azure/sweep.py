"""Finding everything of a cluster in its resource group, and deleting it in dependency order.

What belongs to the cluster is read from Azure, not from the state file, so `down` works when
the state is gone: everything carrying both rlcloud tags, plus VMs (and their NICs, public IPs
and OS disks) that Ray's provider named after the cluster. Azure refuses to delete a resource
something still references (a subnet with NICs, an NSG on a subnet, a public IP on a NIC), so
deletion walks from the referrers to the referenced, waiting for each kind to finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner.clouds.azure.arm import delete_quietly, rest_json
from provisioner.clouds.azure.errors import error_code
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients

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
IN_USE_ATTEMPTS = 4


@dataclass(frozen=True)
class Found:
    """One resource of the cluster, as Azure lists it."""

    id: str
    name: str
    type: str  # lower-case ARM type, e.g. microsoft.network/networkinterfaces

    @property
    def order(self) -> int:
        return DELETE_ORDER.index(self.type) if self.type in DELETE_ORDER else len(DELETE_ORDER)

    def manual_delete(self) -> str:
        return f"{self.type.split('/')[-1]} {self.name}: az resource delete --ids {self.id}"


def inventory(layout: AzureLayout, clients: ArmClients) -> list[Found]:
    """The cluster's resources in its resource group, in deletion order."""
    listed = clients.resource().resources.list_by_resource_group(layout.resource_group)
    found = []
    for item in listed:
        resource = rest_json(item)
        # Checkpoint storage is not the cluster's to sweep: teardown.py deletes it on
        # --purge-storage only (it may sit in a resource group the user named).
        if layout.is_ours(resource) and str(resource["type"]).lower() != "microsoft.storage/storageaccounts":
            found.append(Found(id=str(resource["id"]), name=str(resource["name"]), type=str(resource["type"]).lower()))
    return sorted(found, key=lambda f: (f.order, f.name))


def _deleter(clients: ArmClients, rg: str, found: Found) -> Callable[[], Any]:
    name = found.name
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
    return by_type.get(found.type) or (lambda: clients.resource().resources.begin_delete_by_id(found.id, "2021-04-01"))


def _is_in_use(exc: BaseException) -> bool:
    code = error_code(exc) or ""
    return "InUse" in code or code.endswith("CannotBeDeleted")


def delete_all(layout: AzureLayout, clients: ArmClients, found: list[Found], pause_s: float) -> dict[str, str]:
    """Delete `found` kind by kind (all VMs, then all NICs, ...); returns {id: Azure's error} of
    what failed. A kind still in use (Azure finishing the previous kind) is retried a few times
    before it counts as failed."""
    failed: dict[str, str] = {}
    for order in sorted({f.order for f in found}):
        batch = [f for f in found if f.order == order]
        # Start every delete of the kind, then wait for all: VMs take minutes each.
        pending: list[tuple[Found, Any]] = []
        for item in batch:
            pending.append((item, _start(layout, clients, item, pause_s, failed)))
        for item, poller in pending:
            if poller is None:
                continue
            try:
                delete_quietly(lambda poller=poller: poller)
            except Exception as exc:
                failed[item.id] = error_code(exc) or str(exc)
    return failed


def _start(layout: AzureLayout, clients: ArmClients, item: Found, pause_s: float, failed: dict[str, str]) -> Any:
    remove = _deleter(clients, layout.resource_group, item)
    for attempt in range(IN_USE_ATTEMPTS):
        try:
            return remove()
        except Exception as exc:
            if _is_in_use(exc) and attempt < IN_USE_ATTEMPTS - 1:
                time.sleep(pause_s)
                continue
            if getattr(exc, "status_code", None) == 404:
                return None
            failed[item.id] = error_code(exc) or str(exc)
            return None
    return None
