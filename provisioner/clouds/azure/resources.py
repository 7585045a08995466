"""The resources `up` makes sure of, each declared as a `Resource` for the shared reconciler
(provisioner/clouds/reconcile.py): how to read it, what it should look like, how to create
it. The order they run in (and why) is in azure_provisioner.py.

ARM's PUT is create-or-update, so `create` also puts drift right; only role assignments,
which Azure never updates, have an `update` (delete, then create). Each is recorded in the
cluster state under its deterministic ARM id (layout.py), the id `down` finds it by.
"""

from __future__ import annotations

from typing import Any

from provisioner.clouds.azure import nsg_rules, role
from provisioner.clouds.azure.arm import ArmJson, finished, rest_json
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.clouds.reconcile import Resource
from provisioner.errors import CloudError

IDENTITY_API_VERSION = "2023-01-31"


def subnet_prefix(subnet: ArmJson) -> str:
    props = subnet.get("properties") or {}
    prefix = props.get("addressPrefix") or (props.get("addressPrefixes") or [None])[0]
    if not prefix:
        raise CloudError(f"subnet {subnet.get('id')} has no address prefix", hint="give the subnet an address range, or let rlcloud create the VNet")
    return str(prefix)


def principal_of(identity: ArmJson | None) -> str | None:
    """The Azure AD principal of a managed identity (None while planning one not made yet)."""
    value = ((identity or {}).get("properties") or {}).get("principalId")
    return str(value) if value else None


class AzureResources:
    """Resource declarations for one cluster."""

    def __init__(self, layout: AzureLayout, clients: ArmClients) -> None:
        self.layout = layout
        self.clients = clients

    @property
    def _rg(self) -> str:
        return self.layout.resource_group

    def _tracked(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Body fields every tracked resource gets: location and tags."""
        return {"location": self.layout.location, "tags": self.layout.tags, **(extra or {})}

    # ------------------------------------------------------------------ resource group
    def resource_group(self) -> Resource[ArmJson]:
        groups = self.clients.resource().resource_groups
        rg = self._rg

        def read() -> ArmJson:
            return rest_json(groups.get(rg))

        if not self.layout.owns_resource_group:
            return Resource(
                kind="resource_group",
                name=rg,
                read=read,
                recorded=False,  # the user's: nothing of rlcloud's to remember
                missing_hint=f"create it (`az group create -n {rg} -l {self.layout.location}`), or omit resource_group",
            )
        return Resource(
            kind="resource_group",
            name=rg,
            read=read,
            create=lambda: rest_json(groups.create_or_update(rg, self._tracked())),
            owned=self.layout.is_ours,
            state_id=self.layout.rg_id,
            detail="deleted whole by `down`",
            foreign_hint=f"to deploy into it, name it in the spec (resource_group: {rg}); rlcloud then never deletes it",
        )

    # ------------------------------------------------------------------ network
    def user_subnet(self) -> Resource[ArmJson]:
        subnets = self.clients.network().subnets
        layout = self.layout
        return Resource(
            kind="subnet",
            name=f"{layout.vnet}/{layout.subnet}",
            read=lambda: rest_json(subnets.get(self._rg, layout.vnet, layout.subnet)),
            recorded=False,
            missing_hint="network.vnet / network.subnet must name a subnet in the resource group",
        )

    def nsg(self, cluster_prefix: str, ssh_cidrs: list[str]) -> Resource[ArmJson]:
        groups = self.clients.network().network_security_groups
        layout = self.layout
        rules = nsg_rules.desired_rules(ssh_cidrs, cluster_prefix)
        body = self._tracked({"properties": {"securityRules": [r.arm() for r in rules]}})
        return Resource(
            kind="network_security_group",
            name=layout.nsg,
            read=lambda: rest_json(groups.get(self._rg, layout.nsg)),
            create=lambda: finished(groups.begin_create_or_update(self._rg, layout.nsg, body)),
            drift=lambda nsg: nsg_rules.rules_drift(nsg, rules),
            owned=layout.is_ours,
            state_id=layout.nsg_id,
            detail=f"SSH from {', '.join(sorted(set(ssh_cidrs)))}; {cluster_prefix} within; deny other inbound",
        )

    def vnet(self) -> Resource[ArmJson]:
        vnets = self.clients.network().virtual_networks
        layout = self.layout
        body = self._tracked(
            {
                "properties": {
                    "addressSpace": {"addressPrefixes": [layout.address_space]},
                    "subnets": [
                        {
                            "name": layout.subnet,
                            "properties": {"addressPrefix": layout.address_space, "networkSecurityGroup": {"id": layout.nsg_id}},
                        }
                    ],
                }
            }
        )

        def drift(vnet: ArmJson) -> str | None:
            props = vnet.get("properties") or {}
            subnet = next((s for s in props.get("subnets") or [] if s.get("name") == layout.subnet), None)
            if subnet is None:
                return f"add subnet {layout.subnet}"
            attached = str(((subnet.get("properties") or {}).get("networkSecurityGroup") or {}).get("id", ""))
            if attached.lower() != layout.nsg_id.lower():
                return "attach the cluster NSG to the subnet"
            return None

        return Resource(
            kind="virtual_network",
            name=layout.vnet,
            read=lambda: rest_json(vnets.get(self._rg, layout.vnet)),
            create=lambda: finished(vnets.begin_create_or_update(self._rg, layout.vnet, body)),
            drift=drift,
            owned=layout.is_ours,
            state_id=layout.vnet_id,
            detail=f"{layout.address_space}, subnet {layout.subnet} behind the NSG",
        )

    # ------------------------------------------------------------------ placement
    def ppg(self) -> Resource[ArmJson]:
        groups = self.clients.compute().proximity_placement_groups
        layout = self.layout
        name, rid = layout.ppg, layout.ppg_id
        assert name is not None and rid is not None
        extra: dict[str, Any] = {"properties": {"proximityPlacementGroupType": "Standard"}}
        if layout.zone:
            extra["zones"] = [layout.zone]
        return Resource(
            kind="placement_group",
            name=name,
            read=lambda: rest_json(groups.get(self._rg, name)),
            create=lambda: rest_json(groups.create_or_update(self._rg, name, self._tracked(extra))),
            owned=layout.is_ours,
            state_id=rid,
            detail=f"proximity placement for {', '.join(layout.placed_groups)}",
        )

    # ------------------------------------------------------------------ identity
    def user_identity(self) -> Resource[ArmJson]:
        resources = self.clients.resource().resources
        identity_id = self.layout.identity_id
        return Resource(
            kind="managed_identity",
            name=identity_id.rsplit("/", 1)[-1],
            read=lambda: rest_json(resources.get_by_id(identity_id, IDENTITY_API_VERSION)),
            recorded=False,
            missing_hint="identity.managed_identity must be the resource id of an existing user-assigned identity",
        )

    def identity(self, name: str | None = None, detail: str = "the head's identity") -> Resource[ArmJson]:
        """A user-assigned identity rlcloud makes: the head's (default) or another by name."""
        identities = self.clients.identity().user_assigned_identities
        layout = self.layout
        chosen = name or layout.identity
        assert chosen is not None
        return Resource(
            kind="managed_identity",
            name=chosen,
            read=lambda: rest_json(identities.get(self._rg, chosen)),
            create=lambda: rest_json(identities.create_or_update(self._rg, chosen, self._tracked())),
            owned=layout.is_ours,
            state_id=layout.resource_id("Microsoft.ManagedIdentity", "userAssignedIdentities", chosen),
            detail=detail,
        )

    def worker_identity(self) -> Resource[ArmJson]:
        return self.identity(self.layout.worker_identity, "the workers' identity: checkpoint container only")

    def role_definition(self) -> Resource[ArmJson]:
        definitions = self.clients.authorization().role_definitions
        layout = self.layout
        body = role.role_definition_body(layout.role_name, layout.cluster, layout.rg_id)
        return Resource(
            kind="role_definition",
            name=layout.role_name,
            read=lambda: rest_json(definitions.get(layout.rg_id, layout.role_definition_guid)),
            create=lambda: rest_json(definitions.create_or_update(layout.rg_id, layout.role_definition_guid, body)),
            drift=lambda existing: role.role_definition_drift(existing, layout.rg_id),
            state_id=layout.role_definition_id,
            detail=f"{len(role.AUTOSCALER_ACTIONS)} autoscaler actions, assignable in {layout.resource_group} only",
        )

    def role_assignment(
        self,
        principal_id: str | None,
        *,
        scope: str | None = None,
        guid: str | None = None,
        role_id: str | None = None,
        label: str | None = None,
        detail: str | None = None,
        description: str = "rlcloud: the cluster's Ray autoscaler",
    ) -> Resource[ArmJson]:
        """An assignment of `role_id` (default: the autoscaler role) to `principal_id` at
        `scope` (default: the cluster's group), named by a deterministic `guid`.

        A just-created identity may not have reached every Azure AD replica yet; Azure then
        answers PrincipalNotFound, which the reconciler waits out (errors.py: NotYetConsistent)."""
        assignments = self.clients.authorization().role_assignments
        layout = self.layout
        at = scope or layout.rg_id
        name = guid or layout.role_assignment_guid
        wanted_role = role_id or layout.role_definition_id

        def create() -> ArmJson:
            assert principal_id is not None  # known once applying: the identity exists by then
            return rest_json(assignments.create(at, name, role.role_assignment_body(wanted_role, principal_id, description)))

        def replace(_: ArmJson) -> ArmJson:
            # Azure never updates an assignment (RoleAssignmentUpdateNotPermitted): one made for
            # an identity since re-created, or for another role, is deleted and made again.
            assignments.delete(at, name)
            return create()

        def drift(existing: ArmJson) -> str | None:
            props = existing.get("properties") or {}
            if principal_id is not None and props.get("principalId") != principal_id:
                return "for a previous identity; replace"
            if str(props.get("roleDefinitionId", "")).lower() != wanted_role.lower():
                return "other role; replace"
            if str(props.get("scope", at)).lower() != at.lower():
                return "other scope; replace"
            return None

        return Resource(
            kind="role_assignment",
            name=label or f"{layout.role_name} -> {layout.identity}",
            read=lambda: rest_json(assignments.get(at, name)),
            create=create,
            update=replace,
            drift=drift,
            state_id=role_assignment_id(at, name),
            detail=detail or f"scope: resource group {layout.resource_group}",
        )


def role_assignment_id(scope: str, guid: str) -> str:
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}"
