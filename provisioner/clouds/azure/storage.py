"""Checkpoint storage on Azure Blob (az://ACCOUNT/CONTAINER/PREFIX): the account, its
container, and who may touch it.

Where the account lives. `down` deletes the cluster's own resource group whole, so an account
rlcloud creates (storage.create_bucket) goes in a group of its own, rlcloud-<name>-data (or in
the resource group the spec names, which rlcloud never deletes). Checkpoints outlive the
cluster: `down` deletes the account (and rlcloud-<name>-data) only with --purge-storage.
Without create_bucket the account and container are the user's: rlcloud finds the account
in the subscription by name, fails early naming it when absent, and only assigns a role on
the container.

Who may touch it. The workers (learner, samplers) carry an identity of their own,
rlcloud-<name>-worker, whose only role is the built-in Storage Blob Data Contributor at the
container's scope. The head keeps its autoscaler role and gets, on the worker identity
alone, the built-in Managed Identity Operator: Azure requires `assign` on an identity to
create a VM carrying it, and the head's autoscaler launches the workers. The head also gets
the built-in Storage Blob Data Reader on the container: the job's driver runs on the head
and looks for the newest checkpoint before it starts; it never writes one.

Through the generic resources client (by id, with an api-version) like the other reads by
id here: no extra SDK. Each is a `Resource` for the shared reconciler (azure_provisioner.py
runs them first: a missing user account or a taken name fails before the cluster is made).
"""

from __future__ import annotations

from typing import Any

from provisioner.clouds.azure.arm import ArmJson, finished, get_or_none, rest_json
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.clouds.reconcile import Resource

API_VERSION = "2023-05-01"
ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
# What an account rlcloud creates must say (and what `up` puts back if someone changed it).
ACCOUNT_PROPERTIES: dict[str, Any] = {
    "allowBlobPublicAccess": False,
    "minimumTlsVersion": "TLS1_2",
    "supportsHttpsTrafficOnly": True,
}


def find_account(layout: AzureLayout, clients: ArmClients) -> ArmJson | None:
    """The checkpoint account: by its id when rlcloud creates it, else by name in the
    subscription (names are global; the user's may be in any of their groups)."""
    resources = clients.resource().resources
    if layout.creates_storage:
        rid = layout.storage_account_id(str(layout.data_resource_group))
        return get_or_none(lambda: resources.get_by_id(rid, API_VERSION))
    wanted = f"resourceType eq '{ACCOUNT_TYPE}' and name eq '{layout.storage_account}'"
    for item in resources.list(filter=wanted):
        found = rest_json(item)
        if str(found.get("name", "")).lower() == str(layout.storage_account).lower():
            return found
    return None


class StorageResources:
    """Resource declarations for the checkpoint account, its blob service and container."""

    def __init__(self, layout: AzureLayout, clients: ArmClients) -> None:
        self.layout = layout
        self.clients = clients
        self.resources = clients.resource().resources

    def _put(self, rid: str, body: dict[str, Any]) -> ArmJson:
        return finished(self.resources.begin_create_or_update_by_id(rid, API_VERSION, body))

    def _read(self, rid: str) -> ArmJson:
        return rest_json(self.resources.get_by_id(rid, API_VERSION))

    def data_group(self) -> Resource[ArmJson]:
        groups = self.clients.resource().resource_groups
        layout = self.layout
        name, rid = layout.data_resource_group, layout.data_rg_id
        assert name is not None and rid is not None
        return Resource(
            kind="resource_group",
            name=name,
            read=lambda: rest_json(groups.get(name)),
            create=lambda: rest_json(groups.create_or_update(name, {"location": layout.location, "tags": layout.tags})),
            owned=layout.is_ours,
            state_id=rid,
            detail="the checkpoint account's; kept by `down` unless --purge-storage",
        )

    def user_account(self) -> Resource[ArmJson]:
        layout = self.layout
        return Resource(
            kind="storage_account",
            name=str(layout.storage_account),
            read=lambda: find_account(layout, self.clients),
            recorded=False,
            missing_hint=(
                f"create storage account {layout.storage_account} (and container {layout.container}), "
                "or set storage.create_bucket: true for rlcloud to create them"
            ),
        )

    def account(self) -> Resource[ArmJson]:
        layout = self.layout
        rid = layout.storage_account_id(str(layout.data_resource_group))
        body = {
            "location": layout.location,
            "tags": layout.tags,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
            "properties": dict(ACCOUNT_PROPERTIES),
        }

        def drift(existing: ArmJson) -> str | None:
            props = existing.get("properties") or {}
            off = [key for key, value in ACCOUNT_PROPERTIES.items() if props.get(key) != value]
            return f"set {', '.join(off)}" if off else None

        return Resource(
            kind="storage_account",
            name=str(layout.storage_account),
            read=lambda: self._read(rid),
            create=lambda: self._put(rid, body),
            drift=drift,
            owned=layout.is_ours,
            state_id=rid,
            detail=f"StorageV2 in {layout.data_resource_group}: no public blobs, TLS 1.2, HTTPS only; kept by `down`",
            foreign_hint="storage account names are global: pick another account in checkpoint_uri, or drop create_bucket to use yours",
        )

    def blob_service(self, account_id: str) -> Resource[ArmJson]:
        rid = f"{account_id}/blobServices/default"
        body = {"properties": {"isVersioningEnabled": True}}
        return Resource(
            kind="blob_service",
            name=f"{self.layout.storage_account}/default",
            read=lambda: self._read(rid),
            create=lambda: self._put(rid, body),
            drift=lambda existing: None if (existing.get("properties") or {}).get("isVersioningEnabled") else "turn on blob versioning",
            detail="blob versioning on",
            recorded=False,  # goes with the account
        )

    def container(self, account_id: str) -> Resource[ArmJson]:
        layout = self.layout
        rid = layout.container_scope(account_id, str(layout.container))
        name = f"{layout.storage_account}/{layout.container}"
        if not layout.creates_storage:
            return Resource(
                kind="storage_container",
                name=name,
                read=lambda: self._read(rid),
                recorded=False,
                missing_hint=f"create container {layout.container} in storage account {layout.storage_account}, or set storage.create_bucket: true",
            )
        return Resource(
            kind="storage_container",
            name=name,
            read=lambda: self._read(rid),
            create=lambda: self._put(rid, {"properties": {"publicAccess": "None"}}),
            detail="private",
            recorded=False,  # goes with the account
        )
