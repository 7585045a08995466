"""The cluster placement group (strategy `cluster`: one AZ, low-latency network between the
GPU nodes), created when a node group joins it (network.placement: cluster)."""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import aws_errors, or_none
from provisioner.clouds.aws.inspection import PLACEMENT_GROUP, Inspection, Recorder
from provisioner.errors import CloudError
from provisioner.state import CloudResource

STRATEGY = "cluster"


def find(ec2: Any, name: str) -> dict[str, Any] | None:
    answer = or_none(ec2.describe_placement_groups, "InvalidPlacementGroup.Unknown", GroupNames=[name])
    return answer["PlacementGroups"][0] if answer and answer["PlacementGroups"] else None


def inspect(ec2: Any, cluster: str) -> Inspection:
    name = naming.aws_placement_group(cluster)
    with aws_errors(f"looking up placement group {name}"):
        group = find(ec2, name)
    if group is None:
        return Inspection(PLACEMENT_GROUP, name, "create", f"strategy {STRATEGY}, for the GPU node groups")
    tags.require_ours(group.get("Tags"), cluster, f"placement group {name}")
    if group.get("Strategy") != STRATEGY:
        raise CloudError(
            f"placement group {name} has strategy {group.get('Strategy')}, not {STRATEGY}", hint="`rlcloud down` then `rlcloud up` recreates it"
        )
    return Inspection(PLACEMENT_GROUP, name, "keep", current=group)


def ensure(ec2: Any, cluster: str, found: Inspection, record: Recorder) -> str:
    if found.action == "create":
        with aws_errors(f"creating placement group {found.name}"):
            ec2.create_placement_group(
                GroupName=found.name,
                Strategy=STRATEGY,
                TagSpecifications=tags.tag_specification("placement-group", cluster),
            )
    record(CloudResource(kind=PLACEMENT_GROUP, id=found.name))
    return found.name


def delete(ec2: Any, name: str) -> None:
    ec2.delete_placement_group(GroupName=name)
