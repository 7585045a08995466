"""The compact placement policy: a regional resource policy with groupPlacementPolicy
collocation COLLOCATED, named by the node configs of the groups that ask for placement
(GPU groups by default when network.placement is 'compact').

No vmCount: the autoscaler changes how many VMs use the policy, and a policy with vmCount
only admits exactly that many. Resource policies carry no labels; the description holds
the cluster marker (provisioner/clouds/ownership.py). VMs that used the policy may still be
shutting down when `down` deletes it, which GCE answers "in use": the reconciler waits that out.
"""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import wait
from provisioner.clouds.ownership import description_says_ours
from provisioner.clouds.reconcile import Resource
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


def policy_resource(clients: GcpClients, spec: GcpClusterSpec) -> Resource[Any]:
    """The policy as the reconciler runs it; `up` ensures it only when a group asks for
    placement, `down` deletes it whatever the spec says now (an earlier spec may have)."""
    project, region, name = clients.project, spec.region, naming.gcp_placement_policy(spec.name)
    policies = clients.resource_policies

    def read() -> Any:
        return policies.get(project=project, region=region, resource_policy=name)

    def create() -> Any:
        wait(policies.insert(project=project, region=region, resource_policy_resource=desired_policy(spec)))
        return read()

    groups = ", ".join(placed_groups(spec))
    return Resource(
        kind=KIND,
        name=name,
        read=read,
        create=create,
        delete=lambda _: wait(policies.delete(project=project, region=region, resource_policy=name)),
        owned=lambda found: description_says_ours(found.description, spec.name),
        detail=f"{COLLOCATED}, groups: {groups}" if groups else "",
        foreign_hint=f"rename the cluster, or delete the policy: gcloud compute resource-policies delete {name} --region {region} --project {project}",
        delete_command=f"gcloud compute resource-policies delete {name} --region {region} --project {project} --quiet",
    )
