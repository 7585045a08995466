"""`down` on Azure: what will go, and making it go.

A resource group rlcloud created (named rlcloud-<name> and carrying the cluster's tags) is
deleted whole: Azure removes what is inside in its own dependency order. In a resource group
the user named, only the cluster's resources are deleted, in dependency order (sweep.py),
and the group itself stays. Either way the custom role and its assignments go first: a role
definition is a subscription-level object that outlives the group, and it cannot be deleted
while assigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.clouds.azure import sweep
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


class AzureTeardown:
    def __init__(self, layout: AzureLayout, clients: ArmClients) -> None:
        self.layout = layout
        self.clients = clients

    # ------------------------------------------------------------------ reading
    def survey(self) -> Teardown:
        layout = self.layout
        with azure_errors(f"read resource group {layout.resource_group}"):
            group = get_or_none(lambda: self.clients.resource().resource_groups.get(layout.resource_group))
        with azure_errors(f"read the role {layout.role_name}"):
            definition = get_or_none(
                lambda: self.clients.authorization().role_definitions.get(layout.rg_id, layout.role_definition_guid)
            )
        if group is None:
            return Teardown(group_exists=False, delete_group=False, role_definition=definition is not None)
        whole = layout.owns_resource_group and layout.is_ours(group)
        with azure_errors(f"list the resources of {layout.resource_group}"):
            found = sweep.inventory(layout, self.clients)
            assignments = self._role_assignments(found)
        return Teardown(True, whole, found, assignments, definition is not None)

    def _role_assignments(self, found: list[sweep.Found]) -> list[str]:
        """Assignments at the group of our role, or to our own identity (which nobody else
        should have assigned anything to)."""
        principals = set()
        for item in found:
            if item.type == "microsoft.managedidentity/userassignedidentities":
                identity = get_or_none(lambda: self.clients.resource().resources.get_by_id(item.id, "2023-01-31"))
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
        return self._still_there(failed)

    def _delete_rbac(self, found: Teardown) -> dict[str, str]:
        failed: dict[str, str] = {}
        authorization = self.clients.authorization()
        for assignment_id in found.role_assignment_ids:
            try:
                delete_quietly(lambda: authorization.role_assignments.delete_by_id(assignment_id))
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
        return [line + (f"  ({failed[i]})" if i in failed else "") for i, line in left]
