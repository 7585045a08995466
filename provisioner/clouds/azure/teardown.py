"""`down` on Azure: the survey of what exists of a cluster, as resources the shared reconciler
(provisioner/clouds/reconcile.py) deletes in dependency order and reports when it cannot.

A resource group rlcloud created (named rlcloud-<name> and carrying the cluster's tags) is
deleted whole: what is in it is declared `inside` it, so Azure removes it with the group. In
a resource group the user named, only the cluster's resources are deleted (sweep.py), and
the group itself stays (the plan says it is used, as `up`'s plan does). Either way the custom
role and its assignments go first: a role definition is a subscription-level object that
outlives the group, and it cannot be deleted while assigned.

Checkpoint storage (az://) is outside the cluster's group and its listing: the workers' role
on the container and the head's on the worker identity are found by their deterministic
names; the account rlcloud created (storage.py) and its group rlcloud-<name>-data are
deleted only with --purge-storage (an empty data group, left by an `up` that failed before
the account, always).

What is read from Azure decides, not the state file, so `down` works when the state is lost;
what the state records and Azure no longer has is listed as gone, so the reconciler forgets it.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

from provisioner.clouds.azure import storage, sweep
from provisioner.clouds.azure.arm import ArmJson, finished, get_or_none, rest_json
from provisioner.clouds.azure.errors import ERRORS
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.resources import IDENTITY_API_VERSION, principal_of, role_assignment_id
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.clouds.reconcile import Leftover, Reconciler, Resource, gone, key_of
from provisioner.plan import PlannedResource
from provisioner.state import ClusterState

KEPT = "checkpoints kept; --purge-storage deletes them"
IDENTITY_TYPE = "microsoft.managedidentity/userassignedidentities"


class AzureTeardown:
    """What `down` finds of one cluster, each found resource declared with how to delete it."""

    def __init__(self, layout: AzureLayout, clients: ArmClients, state: ClusterState, purge_storage: bool = False) -> None:
        self.layout = layout
        self.clients = clients
        self.state = state
        self.purge_storage = purge_storage
        self.user_group_found = False  # the spec's resource group, as of the last survey
        # Resource key -> Azure's error code for the last delete Azure refused, for the report.
        self.refused: dict[str, str] = {}

    # ------------------------------------------------------------------ the verbs' two halves
    def plan(self, engine: Reconciler) -> list[PlannedResource]:
        """What `down` deletes and keeps; the user's resource group, never deleted, as "use"."""
        planned = engine.plan_down(self.survey)
        if self.user_group_found:
            rg = self.layout.resource_group
            planned.insert(0, PlannedResource(kind="resource_group", name=rg, action="use", detail="yours: kept, with what else is in it"))
        return planned

    def destroy(self, engine: Reconciler, passes: int) -> list[str]:
        """Delete what the survey finds; return what is left, each line with the command that
        deletes it and, when Azure refused the delete, Azure's error code. What is inside a
        group that is left too is not listed (the engine leaves it out): the group takes it."""
        return [self._report(item) for item in engine.down(self.survey, passes=passes)]

    def _report(self, left: Leftover) -> str:
        reason = self.refused.get(key_of(left.kind, left.name)) or left.reason
        return f"{left.kind} {left.name}: {left.delete_command}  ({reason})"

    def _noting_refusals(self, resource: Resource[Any]) -> Resource[Any]:
        """`resource` with its delete noting Azure's error code when Azure refuses it."""
        delete = resource.delete
        if delete is None:
            return resource

        def noted(found: Any) -> object:
            try:
                return delete(found)
            except Exception as exc:
                said = ERRORS.describe(exc)
                if said is not None:
                    self.refused[resource.key] = said.code
                raise

        return dataclasses.replace(resource, delete=noted)

    # ------------------------------------------------------------------ what exists
    def survey(self) -> list[Resource[Any]]:
        """Everything of the cluster that exists now (called again after each `down` pass)."""
        layout = self.layout
        with ERRORS.calls(f"list what is left of cluster {layout.cluster}"):
            group = get_or_none(lambda: self.clients.resource().resource_groups.get(layout.resource_group))
            self.user_group_found = group is not None and not layout.owns_resource_group
            listed = sweep.inventory(layout, self.clients) if group is not None else []
            inside = key_of("resource_group", layout.resource_group) if layout.owns_resource_group else None
            found: list[Resource[Any]] = sweep.found_resources(layout, self.clients, listed, inside)
            if layout.owns_resource_group:
                found.insert(0, self._group(group))
            identities = [item for item in listed if str(item["type"]).lower() == IDENTITY_TYPE]
            identity_keys = tuple(key_of("managed_identity", str(item["name"])) for item in identities)
            found.append(self._role_definition(identity_keys))
            if group is not None:
                found += self._group_assignments(identities, identity_keys)
            found += self._storage()
        surveyed = {(r.kind, r.expected_id) for r in found}
        # Recorded, but no longer there (deleted by hand, or with the group in the last pass).
        found += [gone(r.kind, r.id) for r in self.state.resources if r.created and (r.kind, r.id) not in surveyed]
        return [self._noting_refusals(r) for r in found]

    # ------------------------------------------------------------------ the cluster's group
    def _group(self, group: ArmJson | None) -> Resource[ArmJson]:
        """The resource group rlcloud created for the cluster (the user's is never deleted)."""
        layout, rg = self.layout, self.layout.resource_group
        groups = self.clients.resource().resource_groups
        return Resource(
            kind="resource_group",
            name=rg,
            read=lambda: group,
            delete=lambda _: finished(groups.begin_delete(rg)),
            owned=layout.is_ours,
            state_id=layout.rg_id,
            delete_command=f"az group delete -n {rg}",
            detail="created by rlcloud; deleted whole, with what is in it",
        )

    # ------------------------------------------------------------------ RBAC
    def _role_definition(self, identity_keys: tuple[str, ...]) -> Resource[ArmJson]:
        layout = self.layout
        definitions = self.clients.authorization().role_definitions
        return Resource(
            kind="role_definition",
            name=layout.role_name,
            read=lambda: rest_json(definitions.get(layout.rg_id, layout.role_definition_guid)),
            delete=lambda _: definitions.delete(layout.rg_id, layout.role_definition_guid),
            state_id=layout.role_definition_id,
            # Assignable in the group, so deleted before it; and before the identity it was
            # for, as a person would clean up: the grant, the role, then the holder.
            depends_on=(key_of("resource_group", layout.resource_group), *identity_keys),
            delete_command=f"az role definition delete --name {layout.role_definition_guid} --scope {layout.rg_id}",
        )

    def _assignment(self, assignment: ArmJson | None, scope: str, guid: str, depends_on: tuple[str, ...]) -> Resource[ArmJson]:
        """One role assignment; `assignment` as listed, or None to read it by scope and name."""
        assignments = self.clients.authorization().role_assignments
        rid = role_assignment_id(scope, guid)
        return Resource(
            kind="role_assignment",
            name=guid,
            read=(lambda: assignment) if assignment is not None else (lambda: rest_json(assignments.get(scope, guid))),
            delete=lambda _: assignments.delete_by_id(rid),
            state_id=rid,
            # Deleted before the role it grants, the identity holding it and the scope it is at.
            depends_on=(key_of("role_definition", self.layout.role_name), *depends_on),
            delete_command=f"az role assignment delete --ids {rid}",
            detail=f"at {scope.rsplit('/', 1)[-1]}",
        )

    def _group_assignments(self, identities: list[ArmJson], identity_keys: tuple[str, ...]) -> list[Resource[ArmJson]]:
        """Assignments at the group of our role, or to our own identities (which nobody else
        should have assigned anything to)."""
        layout = self.layout
        resources = self.clients.resource().resources
        principals: set[str] = set()
        for item in identities:
            principal = principal_of(get_or_none(partial(resources.get_by_id, str(item["id"]), IDENTITY_API_VERSION)))
            if principal:
                principals.add(principal)
        out: list[Resource[ArmJson]] = []
        for listed in self.clients.authorization().role_assignments.list_for_scope(layout.rg_id, filter="atScope()"):
            assignment = rest_json(listed)
            props = assignment.get("properties") or {}
            at_group = str(props.get("scope", "")).lower() == layout.rg_id.lower()
            ours = str(props.get("roleDefinitionId", "")).lower() == layout.role_definition_id.lower()
            if at_group and (ours or props.get("principalId") in principals):
                depends = (key_of("resource_group", layout.resource_group), *identity_keys)
                out.append(self._assignment(assignment, layout.rg_id, str(assignment["name"]), depends))
        return out

    # ------------------------------------------------------------------ checkpoint storage
    def _storage(self) -> list[Resource[Any]]:
        """The assignments outside the group's listing, found by their deterministic names
        (the workers' and the head's roles at the container, the head's on the worker
        identity), and the checkpoint account and data group rlcloud created."""
        layout = self.layout
        if layout.worker_identity is None:
            return []
        out: list[Resource[Any]] = []
        worker_key = key_of("managed_identity", layout.worker_identity)
        out.append(self._assignment(None, str(layout.worker_identity_id), layout.worker_assign_guid, (worker_key,)))
        account = storage.find_account(layout, self.clients)
        data_key = key_of("resource_group", str(layout.data_resource_group))
        account_key = key_of("storage_account", str(layout.storage_account))
        if account is not None:
            scope = layout.container_scope(str(account["id"]), str(layout.container))
            for guid in (layout.storage_assignment_guid(scope), layout.head_storage_guid(scope)):
                out.append(self._assignment(None, scope, guid, (worker_key, account_key, data_key)))
        if layout.owns_data_group:
            out.append(self._data_group())
        if account is not None and layout.creates_storage:
            out.append(self._account(account, data_key if layout.owns_data_group else None))
        return out

    def _data_group(self) -> Resource[ArmJson]:
        layout = self.layout
        name = str(layout.data_resource_group)
        groups = self.clients.resource().resource_groups
        group = get_or_none(lambda: groups.get(name))
        # Left empty by an `up` that failed before the account: nothing to keep in it.
        empty = group is not None and not list(self.clients.resource().resources.list_by_resource_group(name))
        return Resource(
            kind="resource_group",
            name=name,
            read=lambda: group,
            delete=lambda _: finished(groups.begin_delete(name)),
            owned=layout.is_ours,
            state_id=str(layout.data_rg_id),
            delete_command=f"az group delete -n {name}",
            detail="empty: no checkpoints in it" if empty else "with the checkpoint account",
            kept_on_down=None if self.purge_storage or empty else KEPT,
        )

    def _account(self, account: ArmJson, inside: str | None) -> Resource[ArmJson]:
        layout = self.layout
        rid = str(account["id"])
        resources = self.clients.resource().resources
        return Resource(
            kind="storage_account",
            name=str(layout.storage_account),
            read=lambda: account,
            delete=lambda _: finished(resources.begin_delete_by_id(rid, storage.API_VERSION)),
            owned=layout.is_ours,
            state_id=rid,
            inside=inside,  # rlcloud-<name>-data, when rlcloud made that group for it
            delete_command=f"az storage account delete --ids {rid}",
            detail="checkpoints deleted",
            kept_on_down=None if self.purge_storage else KEPT,
        )
