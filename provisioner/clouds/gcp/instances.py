"""The cluster's VMs, which Ray creates: find them, delete them, find the head's address.

Found three ways so `down` sweeps even what lost a label or a state file: rlcloud's label
(every node config carries it), Ray's own `ray-cluster-name` label, and the instance names
Ray's GCP provider gives (`ray-<cluster>-head-<hex>-compute`). Every status counts: a
TERMINATED (stopped, preempted) VM still bills for its disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, wait
from provisioner.clouds.reconcile import Resource

# Labels Ray's GCP provider puts on the instances it creates (ray.autoscaler.tags).
RAY_CLUSTER_LABEL = "ray-cluster-name"
RAY_NODE_KIND_LABEL = "ray-node-type"
KIND = "instance"


def _list(clients: GcpClients, zone: str, filter_expr: str) -> list[Any]:
    from google.cloud import compute_v1

    request = compute_v1.ListInstancesRequest(project=clients.project, zone=zone, filter=filter_expr)
    with ERRORS.calls(f"listing instances in {zone}"):
        return list(clients.instances.list(request=request))


def cluster_instances(clients: GcpClients, cluster: str, zone: str) -> list[Any]:
    """Every VM of the cluster in its zone, whatever its status."""
    pattern = naming.gcp_ray_instance_pattern(cluster)
    found: dict[str, Any] = {}
    for expr in (
        f"labels.{naming.TAG_KEY} = {cluster}",
        f"labels.{RAY_CLUSTER_LABEL} = {cluster}",
        f'name eq "{pattern}"',
    ):
        for instance in _list(clients, zone, expr):
            found.setdefault(instance.name, instance)
    # The name filter is a regex the API matches in full; check again here, and make sure
    # an instance found by name does not belong to another cluster by label.
    return [
        i
        for i in found.values()
        if i.labels.get(naming.TAG_KEY, cluster) == cluster
        and i.labels.get(RAY_CLUSTER_LABEL, cluster) == cluster
        and (naming.TAG_KEY in i.labels or RAY_CLUSTER_LABEL in i.labels or re.fullmatch(pattern, i.name))
    ]


def instance_resources(clients: GcpClients, cluster: str, zone: str, needs: Sequence[str]) -> list[Resource[Any]]:
    """The cluster's VMs as `down` deletes them: each found by `cluster_instances`, so the
    cluster's by definition, never in the state (Ray creates them, not `up`). `needs`: keys
    of what they run with (placement policy, service accounts), deleted after them."""
    project = clients.project

    def declare(instance: Any) -> Resource[Any]:
        name = str(instance.name)
        return Resource(
            kind=KIND,
            name=name,
            read=lambda: instance,
            delete=lambda _: wait(clients.instances.delete(project=project, zone=zone, instance=name)),
            depends_on=tuple(needs),
            detail=str(instance.status),
            recorded=False,
            delete_command=f"gcloud compute instances delete {name} --zone {zone} --project {project} --quiet",
        )

    return [declare(instance) for instance in cluster_instances(clients, cluster, zone)]


def head_address(clients: GcpClients, cluster: str, zone: str, internal: bool) -> str | None:
    """External IP (internal with use_internal_ips) of the cluster's running head."""
    expr = f"(labels.{RAY_CLUSTER_LABEL} = {cluster}) AND (labels.{RAY_NODE_KIND_LABEL} = head) AND (status = RUNNING)"
    for instance in _list(clients, zone, expr):
        interface = instance.network_interfaces[0] if instance.network_interfaces else None
        if interface is None:
            continue
        if internal:
            return str(interface.network_i_p) or None
        nat = next((c.nat_i_p for c in interface.access_configs if c.nat_i_p), None)
        if nat:
            return str(nat)
    return None
