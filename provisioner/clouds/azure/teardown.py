"""`down` on Azure: what will go, and making it go.

A resource group rlcloud created (named rlcloud-<name> and carrying the cluster's tags) is
deleted whole: Azure removes what is inside in its own dependency order. In a resource group
the user named, only the cluster's resources are deleted, in dependency order (sweep.py),
and the group itself stays. Either way the custom role and its assignments go first: a role
definition is a subscription-level object that outlives the group, and it cannot be deleted
while assigned.

Checkpoint storage (az://) is outside the cluster's group and its listing: the workers' role
on the container and the head's on the worker identity are found by their deterministic
names; the account rlcloud created (storage.py) and its group rlcloud-<name>-data are
deleted only with --purge-storage (an empty data group, left by an `up` that failed before
the account, always).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.clouds.azure import storage, sweep
from provisioner.clouds.azure.arm import delete_quietly, get_or_none, rest_json
from provisioner.clouds.azure.errors import azure_errors, error_code
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.plan import PlannedResource


@dataclass
class Teardown:
    """What `down` finds: the group (if ours to delete whole), the rest, and the RBAC objects."""

    group_exists: bool
    delete_group: bool
    resources: list[sweep.Found] = field(default_factory=list)
    role_assignment_ids: list[str] = field(default_factory=list)
    role_definition: bool = False
    storage_account_id: str | None = None  # the checkpoint account rlcloud created, if any
    data_group: bool = False  # rlcloud-<name>-data exists and is ours
    data_group_empty: bool = False  # ... and holds nothing (an `up` failed before the account)


class AzureTeardown:
    def __init__(self, layout: AzureLayout, clients: ArmClients, purge_storage: bool = False) -> None:
        self.layout = layout
        self.clients = clients
        self.purge_storage = purge_storage

    # ------------------------------------------------------------------ reading
    def survey(self) -> Teardown:
        layout = self.layout
        with azure_errors(f"read resource group {layout.resource_group}"):
            group = get_or_none(lambda: self.clients.resource().resource_groups.get(layout.resource_group))
        with azure_errors(f"read the role {layout.role_name}"):
            definition = get_or_none(lambda: self.clients.authorization().role_definitions.get(layout.rg_id, layout.role_definition_guid))
        with azure_errors("read the checkpoint storage and its role assignments"):
            outside, account, data_group = self._storage()
            empty = data_group and not list(self.clients.resource().resources.list_by_resource_group(str(layout.data_resource_group)))
        if group is None:
            return Teardown(False, False, [], outside, definition is not None, account, data_group, empty)
        whole = layout.owns_resource_group and layout.is_ours(group)
        with azure_errors(f"list the resources of {layout.resource_group}"):
            found = sweep.inventory(layout, self.clients)
            assignments = self._role_assignments(found)
        assignments += [i for i in outside if i.lower() not in {a.lower() for a in assignments}]
        return Teardown(True, whole, found, assignments, definition is not None, account, data_group, empty)

    def _storage(self) -> tuple[list[str], str | None, bool]:
        """The assignments outside the group's listing, found by their deterministic names
        (the workers' and the head's roles at the container, the head's on the worker identity), and the
        checkpoint account / data group rlcloud created."""
        layout = self.layout
        if layout.worker_identity is None:
            return [], None, False
        authorization = self.clients.authorization().role_assignments
        account = storage.find_account(layout, self.clients)
        wanted = [(str(layout.worker_identity_id), layout.worker_assign_guid)]
        if account is not None:
            scope = layout.container_scope(str(account["id"]), str(layout.container))
            wanted.append((scope, layout.storage_assignment_guid(scope)))
            wanted.append((scope, layout.head_storage_guid(scope)))
        ids = []
        for scope, guid in wanted:
            found = get_or_none(lambda scope=scope, guid=guid: authorization.get(scope, guid))
            if found is not None:
                ids.append(str(found["id"]))
        ours = account is not None and layout.creates_storage and layout.is_ours(account)
        data_group = False
        if layout.owns_data_group:
            group = get_or_none(lambda: self.clients.resource().resource_groups.get(str(layout.data_resource_group)))
            data_group = group is not None and layout.is_ours(group)
        return ids, (str(account["id"]) if ours and account else None), data_group

    def _role_assignments(self, found: list[sweep.Found]) -> list[str]:
        """Assignments at the group of our role, or to our own identity (which nobody else
        should have assigned anything to)."""
        principals = set()
        for item in found:
            if item.type == "microsoft.managedidentity/userassignedidentities":
                identity = get_or_none(lambda item=item: self.clients.resource().resources.get_by_id(item.id, "2023-01-31"))
                if identity and (identity.get("properties") or {}).get("principalId"):
                    principals.add(identity["properties"]["principalId"])
        ids = []
        for item in self.clients.authorization().role_assignments.list_for_scope(self.layout.rg_id, filter="atScope()"):
            assignment = rest_json(item)
            props = assignment.get("properties") or {}
            at_group = str(props.get("scope", "")).lower() == self.layout.rg_id.lower()
            ours = str(props.get("roleDefinitionId", "")).lower() == self.layout.role_definition_id.lower()
            if at_group and (ours or props.get("principalId") in principals):
                ids.append(str(assignment["id"]))
        return ids

    def plan(self) -> list[PlannedResource]:
        found = self.survey()
        layout = self.layout
        planned = [
            PlannedResource(kind="role_assignment", name=i.rsplit("/", 1)[-1], action="delete", detail=f"at {layout.resource_group}")
            for i in found.role_assignment_ids
        ]
        if found.role_definition:
            planned.append(PlannedResource(kind="role_definition", name=layout.role_name, action="delete"))
        planned += self._plan_storage(found)
        if found.delete_group:
            planned.append(
                PlannedResource(
                    kind="resource_group",
                    name=layout.resource_group,
                    action="delete",
                    detail=f"created by rlcloud; deleted whole with its {len(found.resources)} cluster resources",
                )
            )
            return planned
        planned += [PlannedResource(kind=f.type.split("/")[-1], name=f.name, action="delete") for f in found.resources]
        if found.group_exists:
            planned.append(PlannedResource(kind="resource_group", name=layout.resource_group, action="use", detail="not created by rlcloud; kept"))
        return planned

    def _plan_storage(self, found: Teardown) -> list[PlannedResource]:
        layout = self.layout
        if found.storage_account_id is None and not found.data_group:
            return []
        if found.data_group_empty:
            return [
                PlannedResource(kind="resource_group", name=str(layout.data_resource_group), action="delete", detail="empty: no checkpoints in it")
            ]
        if not self.purge_storage:
            return [
                PlannedResource(
                    kind="storage_account", name=str(layout.storage_account), action="keep", detail="checkpoints kept; --purge-storage deletes them"
                )
            ]
        if found.data_group:
            return [
                PlannedResource(kind="resource_group", name=str(layout.data_resource_group), action="delete", detail="with the checkpoint account")
            ]
        return [PlannedResource(kind="storage_account", name=str(layout.storage_account), action="delete", detail="checkpoints deleted")]

    # ------------------------------------------------------------------ deleting
    def destroy(self) -> list[str]:
        """Delete everything of the cluster; return what is left, each with how to delete it."""
        found = self.survey()
        pause = min(self.clients.settings.polling_interval_s, 10.0)
        failed: dict[str, str] = {}  # id -> Azure's error, for the report
        if found.delete_group:
            failed |= self._delete_rbac(found)
            failed |= self._delete_group()
        else:
            # The identity goes last: the RBAC cleanup reads its principal id first.
            identities = [f for f in found.resources if f.type == "microsoft.managedidentity/userassignedidentities"]
            failed |= sweep.delete_all(self.layout, self.clients, [f for f in found.resources if f not in identities], pause)
            failed |= self._delete_rbac(found)
            failed |= sweep.delete_all(self.layout, self.clients, identities, pause)
        if self.purge_storage or found.data_group_empty:
            failed |= self._delete_storage(found)
        return self._still_there(failed)

    def _delete_storage(self, found: Teardown) -> dict[str, str]:
        from azure.core.exceptions import AzureError

        layout = self.layout
        resources = self.clients.resource()
        target = str(found.storage_account_id)
        try:
            if found.data_group:
                target = str(layout.data_rg_id)
                delete_quietly(lambda: resources.resource_groups.begin_delete(str(layout.data_resource_group)))
            elif found.storage_account_id:
                delete_quietly(lambda: resources.resources.begin_delete_by_id(target, storage.API_VERSION))
        except AzureError as exc:
            return {target: error_code(exc) or str(exc)}
        return {}

    def _delete_rbac(self, found: Teardown) -> dict[str, str]:
        failed: dict[str, str] = {}
        authorization = self.clients.authorization()
        for assignment_id in found.role_assignment_ids:
            try:
                delete_quietly(lambda assignment_id=assignment_id: authorization.role_assignments.delete_by_id(assignment_id))
            except Exception as exc:
                failed[assignment_id] = error_code(exc) or str(exc)
        if found.role_definition:
            try:
                delete_quietly(lambda: authorization.role_definitions.delete(self.layout.rg_id, self.layout.role_definition_guid))
            except Exception as exc:
                failed[self.layout.role_definition_id] = error_code(exc) or str(exc)
        return failed

    def _delete_group(self) -> dict[str, str]:
        try:
            delete_quietly(lambda: self.clients.resource().resource_groups.begin_delete(self.layout.resource_group))
        except Exception as exc:
            return {self.layout.rg_id: error_code(exc) or str(exc)}
        return {}

    def _still_there(self, failed: dict[str, str]) -> list[str]:
        """Read back: what of the cluster survived, however the deletes reported, each with the
        command that deletes it and Azure's error when one was seen."""
        after = self.survey()
        layout = self.layout
        left: list[tuple[str, str]] = []  # (id, line)
        if after.delete_group:
            left.append((layout.rg_id, f"resource group {layout.resource_group}: az group delete -n {layout.resource_group}"))
        else:
            left += [(f.id, f.manual_delete()) for f in after.resources]
        left += [(i, f"role assignment: az role assignment delete --ids {i}") for i in after.role_assignment_ids]
        if after.role_definition:
            left.append(
                (
                    layout.role_definition_id,
                    f"role {layout.role_name}: az role definition delete --name {layout.role_definition_guid} --scope {layout.rg_id}",
                )
            )
        if (self.purge_storage or after.data_group_empty) and after.data_group:
            left.append((str(layout.data_rg_id), f"resource group {layout.data_resource_group}: az group delete -n {layout.data_resource_group}"))
        elif self.purge_storage and after.storage_account_id:
            left.append((after.storage_account_id, f"storage account {layout.storage_account}: az resource delete --ids {after.storage_account_id}"))
        return [line + (f"  ({failed[i]})" if i in failed else "") for i, line in left]
