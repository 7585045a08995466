"""What an Azure cluster consists of, decided from the spec alone: names, ids, tags, ownership.

Azure resource ids are deterministic (subscription + resource group + type + name), so the
plan, `up`, `down` and the compiler all derive the same ids from the spec; nothing here calls
Azure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds.ownership import cluster_tags, tags_say_ours
from provisioner.spec.models import AzureClusterSpec
from provisioner.spec.resolve import resolve_nodes

NETWORK = "Microsoft.Network"
COMPUTE = "Microsoft.Compute"
MSI = "Microsoft.ManagedIdentity"
AUTHZ = "Microsoft.Authorization"
STORAGE = "Microsoft.Storage"
# Built-in roles (the same GUID in every tenant).
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"


@dataclass(frozen=True)
class AzureLayout:
    cluster: str
    subscription_id: str
    location: str
    zone: str | None
    resource_group: str
    owns_resource_group: bool  # rlcloud names and creates it (spec.resource_group unset)
    vnet: str
    subnet: str
    owns_vnet: bool  # False when the spec names an existing VNet / subnet
    address_space: str
    nsg: str
    ppg: str | None  # None when no node group asks for placement
    placed_groups: tuple[str, ...]  # node groups in the proximity placement group
    identity: str | None  # None when the spec brings its own identity
    user_identity_id: str | None
    use_internal_ips: bool
    # Checkpoints on Azure Blob (az://ACCOUNT/CONTAINER/...): the workers' identity and its
    # storage. None / False when the checkpoints go elsewhere (workers then get no identity).
    worker_identity: str | None = None
    storage_account: str | None = None
    container: str | None = None
    creates_storage: bool = False  # storage.create_bucket: rlcloud makes account + container
    data_resource_group: str | None = None  # the account's group when rlcloud creates it
    owns_data_group: bool = False  # rlcloud creates that group (no resource_group in the spec)

    @classmethod
    def from_spec(cls, spec: AzureClusterSpec) -> AzureLayout:
        placed = tuple(node.group for node in resolve_nodes(spec) if node.placement)
        net = spec.network
        where = spec.storage.location
        blob = where if where is not None and where.scheme == "az" else None
        creates = blob is not None and spec.storage.create_bucket
        return cls(
            cluster=spec.name,
            subscription_id=spec.subscription_id,
            location=spec.region,
            zone=spec.zone,
            resource_group=spec.resource_group or naming.azure_resource_group(spec.name),
            owns_resource_group=spec.resource_group is None,
            vnet=net.vnet or naming.azure_vnet(spec.name),
            subnet=net.subnet or naming.azure_subnet(spec.name),
            owns_vnet=net.vnet is None,
            address_space=net.address_space,
            nsg=naming.azure_nsg(spec.name),
            ppg=naming.azure_ppg(spec.name) if placed else None,
            placed_groups=placed,
            identity=None if spec.identity.managed_identity else naming.azure_identity(spec.name),
            user_identity_id=spec.identity.managed_identity,
            use_internal_ips=net.use_internal_ips,
            worker_identity=naming.azure_worker_identity(spec.name) if blob else None,
            storage_account=blob.account if blob else None,
            container=blob.bucket if blob else None,
            creates_storage=creates,
            # A group the user named is never deleted, so the account may live there; else
            # a group of its own, since the cluster's group is deleted whole by `down`.
            data_resource_group=(spec.resource_group or naming.azure_data_resource_group(spec.name)) if creates else None,
            owns_data_group=creates and spec.resource_group is None,
        )

    # ------------------------------------------------------------------ ids
    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def rg_id(self) -> str:
        return f"{self.subscription_scope}/resourceGroups/{self.resource_group}"

    def resource_id(self, provider: str, kind: str, name: str) -> str:
        return f"{self.rg_id}/providers/{provider}/{kind}/{name}"

    @property
    def nsg_id(self) -> str:
        return self.resource_id(NETWORK, "networkSecurityGroups", self.nsg)

    @property
    def vnet_id(self) -> str:
        return self.resource_id(NETWORK, "virtualNetworks", self.vnet)

    @property
    def subnet_id(self) -> str:
        return f"{self.vnet_id}/subnets/{self.subnet}"

    @property
    def ppg_id(self) -> str | None:
        return self.resource_id(COMPUTE, "proximityPlacementGroups", self.ppg) if self.ppg else None

    @property
    def identity_id(self) -> str:
        if self.user_identity_id:
            return self.user_identity_id
        assert self.identity is not None
        return self.resource_id(MSI, "userAssignedIdentities", self.identity)

    @property
    def worker_identity_id(self) -> str | None:
        return self.resource_id(MSI, "userAssignedIdentities", self.worker_identity) if self.worker_identity else None

    # ------------------------------------------------------------------ checkpoint storage
    @property
    def data_rg_id(self) -> str | None:
        return f"{self.subscription_scope}/resourceGroups/{self.data_resource_group}" if self.data_resource_group else None

    def storage_account_id(self, resource_group: str) -> str:
        return f"{self.subscription_scope}/resourceGroups/{resource_group}/providers/{STORAGE}/storageAccounts/{self.storage_account}"

    @staticmethod
    def container_scope(account_id: str, container: str) -> str:
        return f"{account_id}/blobServices/default/containers/{container}"

    def storage_assignment_guid(self, container_scope: str) -> str:
        return naming.azure_guid("storage-assignment", container_scope, self.cluster)

    @property
    def storage_role_id(self) -> str:
        return f"{self.subscription_scope}/providers/{AUTHZ}/roleDefinitions/{STORAGE_BLOB_DATA_CONTRIBUTOR}"

    def head_storage_guid(self, container_scope: str) -> str:
        """The head's read access to the checkpoints (the job's driver runs there)."""
        return naming.azure_guid("head-storage-reader", container_scope, self.cluster)

    @property
    def storage_reader_role_id(self) -> str:
        return f"{self.subscription_scope}/providers/{AUTHZ}/roleDefinitions/{STORAGE_BLOB_DATA_READER}"

    @property
    def identity_operator_role_id(self) -> str:
        return f"{self.subscription_scope}/providers/{AUTHZ}/roleDefinitions/{MANAGED_IDENTITY_OPERATOR}"

    @property
    def worker_assign_guid(self) -> str:
        """The head's right to give the worker identity to the VMs it launches."""
        return naming.azure_guid("worker-identity-operator", self.rg_id, self.cluster)

    # ------------------------------------------------------------------ RBAC
    @property
    def role_name(self) -> str:
        return naming.azure_role_definition_name(self.cluster, self.rg_id)

    @property
    def role_definition_guid(self) -> str:
        return naming.azure_guid("role-definition", self.rg_id, self.cluster)

    @property
    def role_definition_id(self) -> str:
        # Custom roles live under the subscription; their assignable scope is the group.
        return f"{self.subscription_scope}/providers/{AUTHZ}/roleDefinitions/{self.role_definition_guid}"

    @property
    def role_assignment_guid(self) -> str:
        return naming.azure_guid("role-assignment", self.rg_id, self.cluster)

    @property
    def role_assignment_id(self) -> str:
        return f"{self.rg_id}/providers/{AUTHZ}/roleAssignments/{self.role_assignment_guid}"

    # ------------------------------------------------------------------ ownership
    @property
    def tags(self) -> dict[str, str]:
        return cluster_tags(self.cluster)

    @property
    def unique_id(self) -> str:
        return naming.azure_unique_id(self.cluster, self.resource_group)

    def is_ours(self, resource: Mapping[str, Any]) -> bool:
        """Created by rlcloud for this cluster: both tags, or a Ray-launched VM's own names."""
        if tags_say_ours(resource.get("tags"), self.cluster):
            return True
        name = str(resource.get("name") or "")
        kind = str(resource.get("type") or "").lower()
        ray_made = kind in {
            "microsoft.compute/virtualmachines",
            "microsoft.compute/disks",
            "microsoft.network/networkinterfaces",
            "microsoft.network/publicipaddresses",
        }
        return ray_made and name.startswith(naming.azure_ray_name_prefixes(self.cluster, self.unique_id))
