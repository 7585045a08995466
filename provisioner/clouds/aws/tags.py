"""The tags rlcloud puts on every AWS resource it creates, and how it recognises its own.

`rlcloud-cluster=NAME` says which cluster a resource belongs to (the sweep finds it by
that); `rlcloud-managed=true` says rlcloud created it, so a resource that merely carries the
cluster tag (a user copied it onto their own security group) is never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provisioner import naming

MANAGED_VALUE = "true"


def cluster_tags(cluster: str, name: str | None = None) -> list[dict[str, str]]:
    tags = [{"Key": naming.TAG_KEY, "Value": cluster}, {"Key": naming.MANAGED_TAG_KEY, "Value": MANAGED_VALUE}]
    if name:
        tags.append({"Key": "Name", "Value": name})
    return tags


def tag_specification(resource_type: str, cluster: str, name: str | None = None) -> list[dict[str, Any]]:
    """EC2 TagSpecifications: tags applied atomically with the create call."""
    return [{"ResourceType": resource_type, "Tags": cluster_tags(cluster, name)}]


def as_dict(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def is_ours(tags: Iterable[dict[str, str]] | None, cluster: str) -> bool:
    """Created by rlcloud for this cluster."""
    found = as_dict(tags)
    return found.get(naming.TAG_KEY) == cluster and found.get(naming.MANAGED_TAG_KEY) == MANAGED_VALUE


def require_ours(tags: Iterable[dict[str, str]] | None, cluster: str, what: str, hint: str = "delete or rename it, or rename the cluster") -> None:
    """A resource with rlcloud's name for this cluster that rlcloud did not create stops `up`:
    adopting it would hand it to `down`, changing it would change someone else's resource."""
    if not is_ours(tags, cluster):
        from provisioner.errors import CloudError

        raise CloudError(f"{what} exists but rlcloud did not create it for cluster {cluster}", hint=hint)


def cluster_filter(cluster: str, *, managed: bool = True) -> list[dict[str, Any]]:
    """EC2 Describe* filters for resources rlcloud created for `cluster`."""
    filters = [{"Name": f"tag:{naming.TAG_KEY}", "Values": [cluster]}]
    if managed:
        filters.append({"Name": f"tag:{naming.MANAGED_TAG_KEY}", "Values": [MANAGED_VALUE]})
    return filters
