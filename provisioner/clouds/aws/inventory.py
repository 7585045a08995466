"""Everything of a cluster that exists in AWS right now: what `down` deletes and what its
final sweep looks for. Found by the cluster tag (instances also by Ray's own cluster-name
tag, so nodes Ray launched are found even if a tag was lost), by the names rlcloud derives
from the cluster name (IAM is global and not searchable by tag), and by the cluster state.
Only what rlcloud created is listed; what the user brought is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds.aws import bucket as buckets
from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import or_none
from provisioner.clouds.aws.inspection import (
    BUCKET,
    IAM_ROLE,
    INSTANCE,
    INSTANCE_PROFILE,
    KEY_PAIR,
    NETWORK_INTERFACE,
    PLACEMENT_GROUP,
    SECURITY_GROUP,
    SPOT_REQUEST,
    VOLUME,
)
from provisioner.clouds.aws.session import AwsSession
from provisioner.errors import CloudError
from provisioner.state import ClusterState

# Ray's tag for its cluster name (ray.autoscaler.tags.TAG_RAY_CLUSTER_NAME), and the head's
# node-kind tag; spelled out so rlcloud need not import Ray to find a head.
RAY_CLUSTER_TAG = "ray-cluster-name"
RAY_NODE_KIND_TAG = "ray-node-type"
RAY_HEAD_KIND = "head"
ALIVE = ["pending", "running", "stopping", "stopped", "shutting-down"]


@dataclass(frozen=True)
class Found:
    kind: str
    id: str
    detail: str = ""


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


def _group_ids(ec2: Any, cluster: str, state: ClusterState | None) -> list[str]:
    ids = {g["GroupId"] for g in ec2.describe_security_groups(Filters=tags.cluster_filter(cluster))["SecurityGroups"]}
    recorded = {r.id for r in _recorded(state, SECURITY_GROUP)} - ids
    if recorded:  # recorded by an earlier `up`: still there?
        ids |= {g["GroupId"] for g in ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": sorted(recorded)}])["SecurityGroups"]}
    return sorted(ids)


def _recorded(state: ClusterState | None, kind: str) -> list[Any]:
    return [r for r in (state.resources if state else []) if r.kind == kind and r.created]


def _interfaces(ec2: Any, cluster: str, group_ids: Iterable[str]) -> list[Found]:
    """Detached interfaces tagged for the cluster, or whose only group is the cluster's own
    (an interface left over from a terminated node blocks deleting the group)."""
    found = {
        e["NetworkInterfaceId"]
        for e in ec2.describe_network_interfaces(Filters=[*tags.cluster_filter(cluster, managed=False), {"Name": "status", "Values": ["available"]}])[
            "NetworkInterfaces"
        ]
    }
    for group_id in group_ids:
        for eni in ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}, {"Name": "status", "Values": ["available"]}])[
            "NetworkInterfaces"
        ]:
            if [g["GroupId"] for g in eni.get("Groups", [])] == [group_id]:
                found.add(eni["NetworkInterfaceId"])
    return [Found(NETWORK_INTERFACE, eni) for eni in sorted(found)]


def _iam(iam: Any, cluster: str, state: ClusterState | None) -> list[Found]:
    found: list[Found] = []
    profiles = {naming.aws_instance_profile(cluster), naming.aws_head_instance_profile(cluster)} | {r.id for r in _recorded(state, INSTANCE_PROFILE)}
    for name in sorted(profiles):
        answer = or_none(iam.get_instance_profile, "NoSuchEntity", InstanceProfileName=name)
        if answer and tags.is_ours(answer["InstanceProfile"].get("Tags"), cluster):
            found.append(Found(INSTANCE_PROFILE, name))
    roles = {naming.aws_role(cluster), naming.aws_head_role(cluster)} | {r.id for r in _recorded(state, IAM_ROLE)}
    for name in sorted(roles):
        answer = or_none(iam.get_role, "NoSuchEntity", RoleName=name)
        if answer and tags.is_ours(answer["Role"].get("Tags"), cluster):
            found.append(Found(IAM_ROLE, name))
    return found


def _bucket(s3: Any, cluster: str, state: ClusterState | None, bucket_name: str | None) -> list[Found]:
    """The checkpoint bucket when rlcloud created it (recorded, or tagged if the state was lost)."""
    recorded = {r.id for r in _recorded(state, BUCKET)}
    names = recorded | ({bucket_name} if bucket_name else set())
    return [Found(BUCKET, name, "checkpoint bucket") for name in sorted(names) if _ours_and_there(s3, cluster, name, name in recorded)]


def _ours_and_there(s3: Any, cluster: str, name: str, recorded: bool) -> bool:
    try:
        there = buckets.exists(s3, name)
    except CloudError:  # another account's bucket: never rlcloud's to delete
        return False
    return there and (recorded or buckets.is_ours(s3, cluster, name))


def discover(aws: AwsSession, cluster: str, state: ClusterState | None, bucket_name: str | None) -> list[Found]:
    """Everything rlcloud created for `cluster` that still exists (read-only)."""
    ec2 = aws.ec2
    found = [Found(INSTANCE, i["InstanceId"], i["State"]["Name"]) for i in instances(ec2, cluster)]
    found += [
        Found(SPOT_REQUEST, r["SpotInstanceRequestId"])
        for r in ec2.describe_spot_instance_requests(
            Filters=[*tags.cluster_filter(cluster, managed=False), {"Name": "state", "Values": ["open", "active"]}]
        )["SpotInstanceRequests"]
    ]
    found += [
        Found(VOLUME, v["VolumeId"])
        for v in ec2.describe_volumes(Filters=[*tags.cluster_filter(cluster, managed=False), {"Name": "status", "Values": ["available"]}])["Volumes"]
    ]
    group_ids = _group_ids(ec2, cluster, state)
    found += _interfaces(ec2, cluster, group_ids)
    found += [Found(SECURITY_GROUP, g) for g in group_ids]
    found += [Found(KEY_PAIR, k["KeyName"]) for k in ec2.describe_key_pairs(Filters=tags.cluster_filter(cluster))["KeyPairs"]]
    found += [Found(PLACEMENT_GROUP, g["GroupName"]) for g in ec2.describe_placement_groups(Filters=tags.cluster_filter(cluster))["PlacementGroups"]]
    found += _iam(aws.iam, cluster, state)
    found += _bucket(aws.s3, cluster, state, bucket_name)
    return found


def head_instance(ec2: Any, cluster: str) -> dict[str, Any] | None:
    filters = [
        {"Name": f"tag:{RAY_CLUSTER_TAG}", "Values": [cluster]},
        {"Name": f"tag:{RAY_NODE_KIND_TAG}", "Values": [RAY_HEAD_KIND]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    heads = [i for r in _paged(ec2, "describe_instances", "Reservations", Filters=filters) for i in r["Instances"]]
    return sorted(heads, key=lambda i: str(i.get("LaunchTime", "")))[-1] if heads else None
