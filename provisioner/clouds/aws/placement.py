"""The cluster placement group (strategy `cluster`: one AZ, low-latency network between the
GPU nodes), created when a node group joins it (network.placement: cluster)."""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds import ownership
from provisioner.clouds.aws import tags
from provisioner.clouds.reconcile import Resource
from provisioner.errors import CloudError

KIND = "placement_group"
STRATEGY = "cluster"


def declare(ec2: Any, cluster: str, region: str) -> Resource[dict[str, Any]]:
    name = naming.aws_placement_group(cluster)

    def read() -> dict[str, Any] | None:
        # An unknown name answers InvalidPlacementGroup.Unknown: absent, to the reconciler.
        groups: list[dict[str, Any]] = ec2.describe_placement_groups(GroupNames=[name])["PlacementGroups"]
        return groups[0] if groups else None

    def create() -> dict[str, Any]:
        answer: dict[str, Any] = ec2.create_placement_group(
            GroupName=name, Strategy=STRATEGY, TagSpecifications=tags.tag_specification("placement-group", cluster)
        )
        return answer.get("PlacementGroup") or {"GroupName": name, "Strategy": STRATEGY}

    def drift(group: dict[str, Any]) -> str | None:
        # A placement group's strategy cannot be changed, and one cannot be replaced while
        # instances are in it: only `down` + `up` can fix this.
        if group.get("Strategy") != STRATEGY:
            raise CloudError(
                f"placement group {name} has strategy {group.get('Strategy')}, not {STRATEGY}", hint="`rlcloud down` then `rlcloud up` recreates it"
            )
        return None

    return Resource(
        kind=KIND,
        name=name,
        read=read,
        create=create,
        delete=lambda _: ec2.delete_placement_group(GroupName=name),
        drift=drift,
        owned=lambda group: ownership.tags_say_ours(tags.as_dict(group.get("Tags")), cluster),
        detail=f"strategy {STRATEGY}, for the GPU node groups",
        foreign_hint=tags.foreign_hint(cluster),
        delete_command=f"aws ec2 --region {region} delete-placement-group --group-name {name}",
    )
