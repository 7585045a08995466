"""Live instance-type facts checked at `up` time rather than trusted from the catalog snapshot:
EFA support and network-card count (one EFA interface per card) and whether ENA is required
(then the AMI must be ENA-enabled, or the launch fails minutes later inside `ray up`)."""

from __future__ import annotations

from typing import Any

from provisioner.catalog.aws_ec2 import fetch_instance_types
from provisioner.clouds.aws.errors import ERRORS
from provisioner.clouds.aws.images import Image
from provisioner.errors import CloudError
from provisioner.spec.resolve import ResolvedNode


def _where(node: ResolvedNode) -> str:
    return "head" if node.is_head else f"node_groups.{node.group}"


def check_node_types(ec2: Any, nodes: list[ResolvedNode], images: dict[str, Image]) -> dict[str, int]:
    """Check EFA / ENA facts of every node type; return instance type -> network cards for the
    EFA types (the compiler makes one EFA interface per card)."""
    names = sorted({n.instance.name for n in nodes if n.instance is not None})
    with ERRORS.calls(f"describing instance types {', '.join(names)}"):
        facts = {entry["name"]: entry for entry in fetch_instance_types(ec2, names)}
    cards: dict[str, int] = {}
    for node in nodes:
        assert node.instance is not None
        name = node.instance.name
        fact = facts.get(name)
        if fact is None:
            raise CloudError(f"{_where(node)}: instance type {name} is not offered in this region")
        image = images[node.image or ""]
        if fact["ena_support"] == "required" and not image.ena_support:
            raise CloudError(
                f"{_where(node)}: {name} requires ENA, but AMI {image.ami_id} ({image.name or 'unnamed'}) has EnaSupport false",
                hint="use an ENA-enabled AMI, e.g. the default deep-learning-base image or ubuntu-22.04",
            )
        if node.fast_networking:
            if not fact["efa_supported"]:
                raise CloudError(
                    f"{_where(node)}: {name} has no EFA in this region according to EC2 (the catalog snapshot says it does)",
                    hint="set fast_networking: off for this group, or refresh the catalog (scripts/refresh_aws_catalog.py)",
                )
            cards[name] = int(fact["max_network_cards"])
    return cards
