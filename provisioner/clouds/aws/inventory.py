"""The cluster's nodes and what they leave behind, found by tag: the resources `down`
deletes first (instances Ray's autoscaler launched included) and the head `status` looks for.

Instances are found by rlcloud's cluster tag and by Ray's own cluster-name tag, so nodes Ray
launched are found even if a tag was lost; spot requests, detached volumes and interfaces by
the cluster tag (launches carry it), and interfaces also by having only the cluster's own
security group (one left over from a terminated node blocks deleting the group).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from provisioner import naming
from provisioner.clouds.aws import security_group, tags
from provisioner.clouds.reconcile import Resource, key_of

# Ray's tag for its cluster name (ray.autoscaler.tags.TAG_RAY_CLUSTER_NAME), and the head's
# node-kind tag; spelled out so rlcloud need not import Ray to find a head.
RAY_CLUSTER_TAG = "ray-cluster-name"
RAY_NODE_KIND_TAG = "ray-node-type"
RAY_HEAD_KIND = "head"
ALIVE = ["pending", "running", "stopping", "stopped", "shutting-down"]
TERMINATE_WAIT = {"Delay": 5, "MaxAttempts": 120}  # instances usually terminate within 2 minutes

INSTANCE = "instance"
SPOT_REQUEST = "spot_request"
VOLUME = "volume"
NETWORK_INTERFACE = "network_interface"


def _paged(ec2: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in ec2.get_paginator(operation).paginate(**kwargs):
        items.extend(page[key])
    return items


def instances(ec2: Any, cluster: str) -> list[dict[str, Any]]:
    """Live instances tagged for the cluster by rlcloud or by Ray."""
    found: dict[str, dict[str, Any]] = {}
    for tag in (naming.TAG_KEY, RAY_CLUSTER_TAG):
        filters = [{"Name": f"tag:{tag}", "Values": [cluster]}, {"Name": "instance-state-name", "Values": ALIVE}]
        for reservation in _paged(ec2, "describe_instances", "Reservations", Filters=filters):
            for inst in reservation["Instances"]:
                found[inst["InstanceId"]] = inst
    return list(found.values())


def head_instance(ec2: Any, cluster: str) -> dict[str, Any] | None:
    filters = [
        {"Name": f"tag:{RAY_CLUSTER_TAG}", "Values": [cluster]},
        {"Name": f"tag:{RAY_NODE_KIND_TAG}", "Values": [RAY_HEAD_KIND]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    heads = [i for r in _paged(ec2, "describe_instances", "Reservations", Filters=filters) for i in r["Instances"]]
    return sorted(heads, key=lambda i: str(i.get("LaunchTime", "")))[-1] if heads else None


class _Terminator:
    """Terminates every instance of one survey with one call (not one per node) on the first
    delete, then lets each delete wait for its own instance. Terminate, not stop: stopped
    nodes still bill for their disks."""

    def __init__(self, ec2: Any, ids: list[str]) -> None:
        self.ec2 = ec2
        self.ids = ids
        self._done = False
        self._lock = threading.Lock()

    def delete(self, instance_id: str) -> None:
        with self._lock:
            if not self._done:
                for start in range(0, len(self.ids), 1000):
                    self.ec2.terminate_instances(InstanceIds=self.ids[start : start + 1000])
                self._done = True
        self.ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=TERMINATE_WAIT)


def _found(
    kind: str, rid: str, item: dict[str, Any], delete: Any, command: str, depends_on: Iterable[str] = (), detail: str = ""
) -> Resource[dict[str, Any]]:
    # Found by the cluster's tags (or Ray's), so the cluster's by definition, and deleted by `down`;
    # never in the state (`up` does not create them).
    return Resource(
        kind=kind,
        name=rid,
        read=lambda: item,
        delete=lambda _: delete(rid),
        depends_on=tuple(depends_on),
        delete_command=command,
        detail=detail,
        recorded=False,
    )


def node_resources(ec2: Any, cluster: str, region: str, group_ids: list[str], needs: Iterable[str]) -> list[Resource[dict[str, Any]]]:
    """The cluster's live instances, open spot requests, detached volumes and interfaces.

    `group_ids`: the cluster's security groups (an interface is deleted before its group);
    `needs`: keys of what instances are launched with (deleted after them)."""
    cli = f"aws ec2 --region {region}"
    groups = tuple(key_of(security_group.KIND, g) for g in group_ids)
    live = instances(ec2, cluster)
    terminator = _Terminator(ec2, [i["InstanceId"] for i in live])
    found = [
        _found(
            INSTANCE,
            i["InstanceId"],
            i,
            terminator.delete,
            f"{cli} terminate-instances --instance-ids {i['InstanceId']}",
            (*groups, *needs),
            i["State"]["Name"],
        )
        for i in live
    ]
    spot_filters = [*tags.cluster_filter(cluster, managed=False), {"Name": "state", "Values": ["open", "active"]}]
    found += [
        _found(
            SPOT_REQUEST,
            r["SpotInstanceRequestId"],
            r,
            lambda rid: ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[rid]),
            f"{cli} cancel-spot-instance-requests --spot-instance-request-ids {r['SpotInstanceRequestId']}",
        )
        for r in ec2.describe_spot_instance_requests(Filters=spot_filters)["SpotInstanceRequests"]
    ]
    volume_filters = [*tags.cluster_filter(cluster, managed=False), {"Name": "status", "Values": ["available"]}]
    found += [
        _found(VOLUME, v["VolumeId"], v, lambda vid: ec2.delete_volume(VolumeId=vid), f"{cli} delete-volume --volume-id {v['VolumeId']}")
        for v in ec2.describe_volumes(Filters=volume_filters)["Volumes"]
    ]
    found += [
        _found(
            NETWORK_INTERFACE,
            eni,
            {"NetworkInterfaceId": eni},
            lambda rid: ec2.delete_network_interface(NetworkInterfaceId=rid),
            f"{cli} delete-network-interface --network-interface-id {eni}",
            groups,
        )
        for eni in _detached_interfaces(ec2, cluster, group_ids)
    ]
    return found


def _detached_interfaces(ec2: Any, cluster: str, group_ids: Iterable[str]) -> list[str]:
    available = {"Name": "status", "Values": ["available"]}
    tagged = ec2.describe_network_interfaces(Filters=[*tags.cluster_filter(cluster, managed=False), available])["NetworkInterfaces"]
    found = {e["NetworkInterfaceId"] for e in tagged}
    for group_id in group_ids:
        for eni in ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}, available])["NetworkInterfaces"]:
            if [g["GroupId"] for g in eni.get("Groups", [])] == [group_id]:
                found.add(eni["NetworkInterfaceId"])
    return sorted(found)
