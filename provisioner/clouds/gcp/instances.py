"""The cluster's VMs, which Ray creates: find them, delete them, find the head's address.

Found three ways so `down` sweeps even what lost a label or a state file: rlcloud's label
(every node config carries it), Ray's own `ray-cluster-name` label, and the instance names
Ray's GCP provider gives (`ray-<cluster>-head-<hex>-compute`). Every status counts: a
TERMINATED (stopped, preempted) VM still bills for its disk.
"""

from __future__ import annotations

import re
from typing import Any

from provisioner import naming
from provisioner.clouds.errors import NotFound
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, wait
from provisioner.clouds.gcp.scope import Scope
from provisioner.plan import PlannedResource

# Labels Ray's GCP provider puts on the instances it creates (ray.autoscaler.tags).
RAY_CLUSTER_LABEL = "ray-cluster-name"
RAY_NODE_KIND_LABEL = "ray-node-type"


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


def delete_instances(clients: GcpClients, zone: str, names: list[str]) -> dict[str, str]:
    """Delete all at once, then wait for each; returns name -> why, for those not deleted."""
    started: dict[str, Any] = {}
    failed: dict[str, str] = {}

    def note(name: str, exc: Exception) -> None:
        if ERRORS.is_kind(exc, NotFound):
            return  # gone already: what `down` wants
        err = ERRORS.translate(exc, f"deleting VM {name}")
        if err is None:
            raise exc
        failed[name] = err.message

    for name in names:
        try:
            started[name] = clients.instances.delete(project=clients.project, zone=zone, instance=name)
        except Exception as exc:
            note(name, exc)
    for name, operation in started.items():
        try:
            wait(operation)
        except Exception as exc:
            note(name, exc)
    return failed


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


class InstancesStep:
    """The VMs Ray launched; `up` leaves them to Ray, `down` sweeps whatever Ray left."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def plan_up(self) -> list[PlannedResource]:
        return []

    def apply(self) -> None:
        return None

    def _found(self) -> list[Any]:
        return cluster_instances(self.scope.clients, self.scope.spec.name, self.scope.spec.zone)

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        return [PlannedResource(kind="instance", name=i.name, action="delete", detail=i.status) for i in self._found()]

    def destroy(self, purge_storage: bool) -> list[str]:
        names = [i.name for i in self._found()]
        if not names:
            return []
        self.scope.step(f"deleting {len(names)} VM(s) of the cluster: {', '.join(names)}")
        failed = delete_instances(self.scope.clients, self.scope.spec.zone, names)
        return [
            f"VM {name}: {why} (gcloud compute instances delete {name} --zone {self.scope.spec.zone} --project {self.scope.project} --quiet)"
            for name, why in failed.items()
        ]
