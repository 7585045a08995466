"""How rlcloud recognises what it made: the one ownership rule every cloud applies.

`rlcloud-cluster=NAME` says which cluster a resource belongs to (the sweep finds it by it);
`rlcloud-managed=true` says rlcloud created it, so a resource that merely carries the cluster
tag (a user copied it onto their own firewall) is never changed or deleted. Resources with
no tags or labels (GCP firewall rules, resource policies, service accounts) carry the same
two facts as a marker in their description.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner import naming

MANAGED_VALUE = "true"


def cluster_tags(cluster: str) -> dict[str, str]:
    """The tags (labels) rlcloud puts on everything it creates for `cluster`."""
    return {naming.TAG_KEY: cluster, naming.MANAGED_TAG_KEY: MANAGED_VALUE}


def tags_say_ours(tags: Mapping[str, str] | None, cluster: str) -> bool:
    """Created by rlcloud for `cluster`, by its tags or labels."""
    found = tags or {}
    return found.get(naming.TAG_KEY) == cluster and found.get(naming.MANAGED_TAG_KEY) == MANAGED_VALUE


def description_says_ours(description: str | None, cluster: str) -> bool:
    """Created by rlcloud for `cluster`, by the marker in its description."""
    return naming.gcp_managed_marker(cluster) in (description or "")
