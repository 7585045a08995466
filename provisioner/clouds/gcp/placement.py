"""The compact placement policy: a regional resource policy with groupPlacementPolicy
collocation COLLOCATED, named by the node configs of the groups that ask for placement
(GPU groups by default when network.placement is 'compact').

No vmCount: the autoscaler changes how many VMs use the policy, and a policy with vmCount
only admits exactly that many. Resource policies carry no labels; the description holds
the cluster marker `down` looks for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import create_or_adopt, delete_if_present, describe_failure, is_in_use, read_or_none, wait
from provisioner.clouds.gcp.scope import Scope
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.spec.models import GcpClusterSpec
from provisioner.spec.resolve import resolve_nodes

COLLOCATED = "COLLOCATED"
KIND = "placement_policy"


def placed_groups(spec: GcpClusterSpec) -> list[str]:
    return [node.group for node in resolve_nodes(spec) if node.placement]


def desired_policy(spec: GcpClusterSpec) -> Any:
    from google.cloud import compute_v1

    return compute_v1.ResourcePolicy(
        name=naming.gcp_placement_policy(spec.name),
        region=spec.region,
        description=f"{naming.gcp_managed_marker(spec.name)} Compact placement of rlcloud cluster {spec.name}",
        group_placement_policy=compute_v1.ResourcePolicyGroupPlacementPolicy(collocation=COLLOCATED),
    )


def is_managed(existing: Any, cluster: str) -> bool:
    return naming.gcp_managed_marker(cluster) in (existing.description or "")


def get_policy(clients: GcpClients, region: str, name: str) -> Any | None:
    return read_or_none(
        f"reading resource policy {name}",
        clients.project,
        lambda: clients.resource_policies.get(project=clients.project, region=region, resource_policy=name),
    )


def create_policy(clients: GcpClients, spec: GcpClusterSpec) -> None:
    policy = desired_policy(spec)
    create_or_adopt(
        f"creating placement policy {policy.name}",
        clients.project,
        lambda: wait(clients.resource_policies.insert(project=clients.project, region=spec.region, resource_policy_resource=policy)),
    )


def delete_policy(clients: GcpClients, region: str, name: str, *, attempts: int = 6, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Delete and wait; False when already gone. VMs that used the policy may still be
    shutting down, which GCE reports as 'in use': wait and try again."""

    def delete() -> None:
        for attempt in range(attempts):
            try:
                wait(clients.resource_policies.delete(project=clients.project, region=region, resource_policy=name))
                return
            except Exception as exc:
                if not is_in_use(exc) or attempt == attempts - 1:
                    raise
                sleep(5.0 * (attempt + 1))

    return delete_if_present(f"deleting placement policy {name}", clients.project, delete)


class PlacementStep:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.name = naming.gcp_placement_policy(scope.spec.name)

    def _existing(self) -> Any | None:
        existing = get_policy(self.scope.clients, self.scope.spec.region, self.name)
        if existing is not None and not is_managed(existing, self.scope.spec.name) and not self.scope.recorded(KIND, self.name):
            raise CloudError(
                f"resource policy {self.name} exists but rlcloud did not create it for cluster {self.scope.spec.name}",
                hint="rename the cluster, or delete the policy: gcloud compute resource-policies delete "
                f"{self.name} --region {self.scope.spec.region} --project {self.scope.project}",
            )
        return existing

    def plan_up(self) -> list[PlannedResource]:
        groups = placed_groups(self.scope.spec)
        if not groups:
            return []
        action = "create" if self._existing() is None else "keep"
        return [PlannedResource(kind=KIND, name=self.name, action=action, detail=f"{COLLOCATED}, groups: {', '.join(groups)}")]

    def apply(self) -> None:
        groups = placed_groups(self.scope.spec)
        if not groups:
            return
        if self._existing() is None:
            self.scope.step(f"creating compact placement policy {self.name} for {', '.join(groups)}")
            create_policy(self.scope.clients, self.scope.spec)
        self.scope.record(KIND, self.name, region=self.scope.spec.region)

    def _ours(self) -> bool:
        existing = get_policy(self.scope.clients, self.scope.spec.region, self.name)
        return existing is not None and (is_managed(existing, self.scope.spec.name) or self.scope.recorded(KIND, self.name) is not None)

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        return [PlannedResource(kind=KIND, name=self.name, action="delete")] if self._ours() else []

    def destroy(self, purge_storage: bool) -> list[str]:
        if self._ours():
            self.scope.step(f"deleting placement policy {self.name}")
            try:
                delete_policy(self.scope.clients, self.scope.spec.region, self.name)
            except CloudError as exc:
                return [
                    f"placement policy {self.name}: {describe_failure(exc)} (gcloud compute resource-policies delete "
                    f"{self.name} --region {self.scope.spec.region} --project {self.scope.project} --quiet)"
                ]
        self.scope.forget(KIND, self.name)
        return []
