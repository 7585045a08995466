"""The resources `up` makes sure of, one Step each: how to read it, what it should look like,
how to create it. The order they run in (and why) is in azure_provisioner.py.
"""

from __future__ import annotations

from typing import Any

from provisioner.clouds.azure import nsg_rules, role
from provisioner.clouds.azure.arm import get_or_none, rest_json, retry_while_replicating
from provisioner.clouds.azure.converge import ArmJson, Step
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.errors import CloudError


def subnet_prefix(subnet: ArmJson) -> str:
    props = subnet.get("properties") or {}
    prefix = props.get("addressPrefix") or (props.get("addressPrefixes") or [None])[0]
    if not prefix:
        raise CloudError(f"subnet {subnet.get('id')} has no address prefix", hint="give the subnet an address range, or let rlcloud create the VNet")
    return str(prefix)


class AzureResources:
    """Step factories for one cluster."""

    def __init__(self, layout: AzureLayout, clients: ArmClients) -> None:
        self.layout = layout
        self.clients = clients

    @property
    def _rg(self) -> str:
        return self.layout.resource_group

    def _owned(self, resource: ArmJson) -> bool:
        return self.layout.is_ours(resource)

    def _tracked(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Body fields every tracked resource gets: location and tags."""
        return {"location": self.layout.location, "tags": self.layout.tags, **(extra or {})}

    # ------------------------------------------------------------------ resource group
    def resource_group(self) -> Step:
        groups = self.clients.resource().resource_groups
        read = lambda: get_or_none(lambda: groups.get(self._rg))  # noqa: E731
        if not self.layout.owns_resource_group:
            return Step(
                "resource_group",
                self._rg,
                read,
                put=None,
                missing_hint=f"create it (`az group create -n {self._rg} -l {self.layout.location}`), or omit resource_group",
            )
        return Step(
            "resource_group",
            self._rg,
            read,
            put=lambda: rest_json(groups.create_or_update(self._rg, self._tracked())),
            owned=self._owned,
            detail="deleted whole by `down`",
            foreign_hint=f"to deploy into it, name it in the spec (resource_group: {self._rg}); rlcloud then never deletes it",
        )

    # ------------------------------------------------------------------ network
    def user_subnet(self) -> Step:
        subnets = self.clients.network().subnets
        return Step(
            "subnet",
            f"{self.layout.vnet}/{self.layout.subnet}",
            lambda: get_or_none(lambda: subnets.get(self._rg, self.layout.vnet, self.layout.subnet)),
            put=None,
            missing_hint="network.vnet / network.subnet must name a subnet in the resource group",
        )

    def nsg(self, cluster_prefix: str, ssh_cidrs: list[str]) -> Step:
        groups = self.clients.network().network_security_groups
        rules = nsg_rules.desired_rules(ssh_cidrs, cluster_prefix)
        body = self._tracked({"properties": {"securityRules": [r.arm() for r in rules]}})
        return Step(
            "network_security_group",
            self.layout.nsg,
            lambda: get_or_none(lambda: groups.get(self._rg, self.layout.nsg)),
            put=lambda: rest_json(groups.begin_create_or_update(self._rg, self.layout.nsg, body).result()),
            drift=lambda nsg: nsg_rules.rules_drift(nsg, rules),
            owned=self._owned,
            detail=f"SSH from {', '.join(sorted(set(ssh_cidrs)))}; {cluster_prefix} within; deny other inbound",
        )

    def vnet(self) -> Step:
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
            attached = ((subnet.get("properties") or {}).get("networkSecurityGroup") or {}).get("id", "")
            if attached.lower() != layout.nsg_id.lower():
                return "attach the cluster NSG to the subnet"
            return None

        return Step(
            "virtual_network",
            layout.vnet,
            lambda: get_or_none(lambda: vnets.get(self._rg, layout.vnet)),
            put=lambda: rest_json(vnets.begin_create_or_update(self._rg, layout.vnet, body).result()),
            drift=drift,
            owned=self._owned,
            detail=f"{layout.address_space}, subnet {layout.subnet} behind the NSG",
        )

    # ------------------------------------------------------------------ placement
    def ppg(self) -> Step:
        groups = self.clients.compute().proximity_placement_groups
        name = self.layout.ppg
        assert name is not None
        extra: dict[str, Any] = {"properties": {"proximityPlacementGroupType": "Standard"}}
        if self.layout.zone:
            extra["zones"] = [self.layout.zone]
        return Step(
            "placement_group",
            name,
            lambda: get_or_none(lambda: groups.get(self._rg, name)),
            put=lambda: rest_json(groups.create_or_update(self._rg, name, self._tracked(extra))),
            owned=self._owned,
            detail=f"proximity placement for {', '.join(self.layout.placed_groups)}",
        )

    # ------------------------------------------------------------------ identity
    def user_identity(self) -> Step:
        resources = self.clients.resource().resources
        identity_id = self.layout.identity_id
        return Step(
            "managed_identity",
            identity_id.rsplit("/", 1)[-1],
            lambda: get_or_none(lambda: resources.get_by_id(identity_id, "2023-01-31")),
            put=None,
            missing_hint="identity.managed_identity must be the resource id of an existing user-assigned identity",
        )

    def identity(self, name: str | None = None, detail: str = "the head's identity") -> Step:
        """A user-assigned identity rlcloud makes: the head's (default) or another by name."""
        identities = self.clients.identity().user_assigned_identities
        name = name or self.layout.identity
        assert name is not None
        return Step(
            "managed_identity",
            name,
            lambda: get_or_none(lambda: identities.get(self._rg, name)),
            put=lambda: rest_json(identities.create_or_update(self._rg, name, self._tracked())),
            owned=self._owned,
            detail=detail,
        )

    def role_definition(self) -> Step:
        definitions = self.clients.authorization().role_definitions
        layout = self.layout
        body = role.role_definition_body(layout.role_name, layout.cluster, layout.rg_id)
        return Step(
            "role_definition",
            layout.role_name,
            lambda: get_or_none(lambda: definitions.get(layout.rg_id, layout.role_definition_guid)),
            put=lambda: rest_json(definitions.create_or_update(layout.rg_id, layout.role_definition_guid, body)),
            drift=lambda existing: role.role_definition_drift(existing, layout.rg_id),
            detail=f"{len(role.AUTOSCALER_ACTIONS)} autoscaler actions, assignable in {layout.resource_group} only",
        )

    def worker_identity(self) -> Step:
        return self.identity(self.layout.worker_identity, "the workers' identity: checkpoint container only")

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
    ) -> Step:
        """An assignment of `role_id` (default: the autoscaler role) to `principal_id` at
        `scope` (default: the cluster's group), named by a deterministic `guid`."""
        assignments = self.clients.authorization().role_assignments
        layout = self.layout
        scope = scope or layout.rg_id
        guid = guid or layout.role_assignment_guid
        role_id = role_id or layout.role_definition_id
        pause = min(self.clients.settings.polling_interval_s, 10.0)

        def put() -> ArmJson:
            assert principal_id is not None
            body = role.role_assignment_body(role_id, principal_id, description)
            existing = get_or_none(lambda: assignments.get(scope, guid))
            if existing is not None:  # assignments are immutable: replace one for an old identity
                assignments.delete(scope, guid)
            return rest_json(retry_while_replicating(lambda: assignments.create(scope, guid, body), pause))

        def drift(existing: ArmJson) -> str | None:
            props = existing.get("properties") or {}
            if principal_id is not None and props.get("principalId") != principal_id:
                return "for a previous identity; replace"
            if str(props.get("roleDefinitionId", "")).lower() != role_id.lower():
                return "other role; replace"
            if str(props.get("scope", scope)).lower() != scope.lower():
                return "other scope; replace"
            return None

        return Step(
            "role_assignment",
            label or f"{layout.role_name} -> {layout.identity}",
            lambda: get_or_none(lambda: assignments.get(scope, guid)),
            put=put,
            drift=drift,
            detail=detail or f"scope: resource group {layout.resource_group}",
        )
