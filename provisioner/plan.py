"""What `up` / `down` would do, shown before they do it: each resource with create / keep /
update / delete / use (a resource the user brought), and the cluster's estimated $/hour."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from provisioner.drivers import driver_for
from provisioner.spec.models import ClusterSpecBase
from provisioner.spec.resolve import resolve_nodes

Action = Literal["create", "keep", "update", "delete", "use"]
MUTATING: set[str] = {"create", "update", "delete"}


class PlannedResource(BaseModel):
    kind: str = Field(description="e.g. security_group, placement_group, iam_role, bucket, key_pair.")
    name: str = Field(description="Name or id (or what it will be called).")
    action: Action
    detail: str = Field(default="", description="Why, or what changes.")


class CostLine(BaseModel):
    group: str
    instance_type: str
    min_nodes: int
    max_nodes: int
    spot: bool
    per_node_hour: float | None


class CostEstimate(BaseModel):
    per_hour_min: float = Field(description="Head + every group at min_nodes, USD/hour.")
    per_hour_max: float = Field(description="Head + every group at max_nodes, USD/hour.")
    lines: list[CostLine] = Field(default_factory=list)
    unpriced: list[str] = Field(default_factory=list, description="Types without a known price (left out of the sums).")


class Plan(BaseModel):
    cluster: str
    cloud: str
    resources: list[PlannedResource] = Field(default_factory=list)
    cost: CostEstimate | None = None

    def mutating(self) -> bool:
        return any(r.action in MUTATING for r in self.resources)

    def text(self) -> str:
        lines = [f"plan for cluster {self.cluster} ({self.cloud}):"]
        for r in self.resources:
            lines.append(f"  {r.action:<7} {r.kind:<22} {r.name}" + (f"  ({r.detail})" if r.detail else ""))
        if not self.resources:
            lines.append("  (nothing)")
        if self.cost is not None:
            lines.append(
                f"estimated cost: ${self.cost.per_hour_min:,.2f}/h at min size, ${self.cost.per_hour_max:,.2f}/h at max size (on-demand list prices; spot discounted)"
            )
            for c in self.cost.lines:
                price = f"${c.per_node_hour:,.2f}/h each" if c.per_node_hour is not None else "price unknown"
                count = "1" if c.group == "head" else f"{c.min_nodes}..{c.max_nodes}"
                lines.append(f"  {c.group:<10} {count:>6} x {c.instance_type}{' (spot)' if c.spot else ''}: {price}")
        return "\n".join(lines)


def estimate_cost(spec: ClusterSpecBase) -> CostEstimate | None:
    if not driver_for(spec.cloud).catalog:
        return None
    low = high = 0.0
    lines, unpriced = [], []
    for node in resolve_nodes(spec):
        assert node.instance is not None
        price = node.price_per_hour()
        count_min, count_max = (1, 1) if node.is_head else (node.min_nodes, node.max_nodes)
        lines.append(
            CostLine(
                group=node.group, instance_type=node.instance.name, min_nodes=count_min, max_nodes=count_max, spot=node.spot, per_node_hour=price
            )
        )
        if price is None:
            unpriced.append(node.instance.name)
            continue
        low += price * count_min
        high += price * count_max
    return CostEstimate(per_hour_min=round(low, 2), per_hour_max=round(high, 2), lines=lines, unpriced=unpriced)
