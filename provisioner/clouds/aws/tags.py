"""The tags rlcloud puts on every AWS resource it creates, in the shapes AWS's APIs take.

Which tags they are, and what makes a resource rlcloud's own, is the one ownership rule of
provisioner/clouds/ownership.py (callers check ownership there, passing `as_dict(tags)`);
this module only spells the tags the AWS way (a list of {"Key", "Value"}, TagSpecifications,
Describe* filters).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provisioner import naming
from provisioner.clouds import ownership


def cluster_tags(cluster: str, name: str | None = None) -> list[dict[str, str]]:
    tags = [{"Key": key, "Value": value} for key, value in ownership.cluster_tags(cluster).items()]
    if name:
        tags.append({"Key": "Name", "Value": name})
    return tags


def tag_specification(resource_type: str, cluster: str, name: str | None = None) -> list[dict[str, Any]]:
    """EC2 TagSpecifications: tags applied atomically with the create call."""
    return [{"ResourceType": resource_type, "Tags": cluster_tags(cluster, name)}]


def as_dict(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    """AWS's [{"Key", "Value"}] -> {key: value}: the shape ownership.tags_say_ours reads."""
    return {t["Key"]: t["Value"] for t in tags or []}


def cluster_filter(cluster: str, *, managed: bool = True) -> list[dict[str, Any]]:
    """EC2 Describe* filters for resources tagged for `cluster` (and created by rlcloud, with `managed`)."""
    filters = [{"Name": f"tag:{naming.TAG_KEY}", "Values": [cluster]}]
    if managed:
        filters.append({"Name": f"tag:{naming.MANAGED_TAG_KEY}", "Values": [ownership.MANAGED_VALUE]})
    return filters


def foreign_hint(cluster: str, what_to_do: str = "delete or rename it, or rename the cluster") -> str:
    """The hint when a resource has rlcloud's name for `cluster` but not its tags."""
    return f"rlcloud did not create it for cluster {cluster}: {what_to_do}"
