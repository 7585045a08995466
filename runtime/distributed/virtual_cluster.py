"""`RayVirtualCluster`: the run's one placement group, with a role for every bundle.

Layout (seed 000): the learner's bundles come first (one per learner node; the node's ranks
share it, so they are packed whatever the strategy), then one bundle per sampler actor. One
group means one atomic reservation: the learner never starts while samplers wait for GPUs it
holds, and an autoscaler sees the whole demand at once and adds every node it needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import PlacementTimeoutError

if TYPE_CHECKING:
    from ray.util.placement_group import PlacementGroup

    from runtime.config import RayRuntimeConfig

LEARNER = "learner"
SAMPLER = "sampler"


@dataclass(frozen=True)
class BundleSpec:
    role: str
    resources: dict[str, float]


def _fmt(resources: dict[str, float]) -> str:
    shown = {k: (int(v) if float(v).is_integer() else round(v, 3)) for k, v in sorted(resources.items()) if v}
    return "{" + ", ".join(f"{k}: {v}" for k, v in shown.items()) + "}"


def run_bundles(config: RayRuntimeConfig) -> list[BundleSpec]:
    """Learner bundles (one per learner node) first, then one per sampler actor."""
    nodes = config.learner_num_nodes
    learner = {"CPU": config.learner_num_cpus / nodes}
    if config.learner_num_gpus:
        learner["GPU"] = config.learner_num_gpus / nodes
    sampler = {"CPU": config.sampler_num_cpus}
    if config.sampler_num_gpus:
        sampler["GPU"] = config.sampler_num_gpus
    return [BundleSpec(LEARNER, dict(learner)) for _ in range(nodes)] + [BundleSpec(SAMPLER, dict(sampler)) for _ in range(config.num_sampler_actors)]


class RayVirtualCluster:
    """One placement group whose bundles carry roles; `wait` fails with what is missing."""

    def __init__(self, bundles: list[BundleSpec], *, strategy: str = "SPREAD", name: str = "") -> None:
        from ray.util.placement_group import placement_group

        if not bundles:
            raise ValueError("a virtual cluster needs at least one bundle")
        self.bundles = list(bundles)
        self.strategy = strategy
        self.name = name
        self.placement_group: PlacementGroup = placement_group([dict(b.resources) for b in self.bundles], strategy=strategy, name=name)

    @classmethod
    def for_run(cls, config: RayRuntimeConfig, *, name: str = "") -> RayVirtualCluster:
        return cls(run_bundles(config), strategy=config.placement_strategy, name=name)

    # ----- seed 002's API
    def get_placement_groups(self) -> list[PlacementGroup]:
        return [self.placement_group]

    def bundle_indices(self, role: str) -> list[int]:
        return [i for i, b in enumerate(self.bundles) if b.role == role]

    def wait(self, timeout_s: float, *, poll_s: float = 1.0) -> float:
        """Block until the group is placed; return seconds waited, or raise naming what is missing."""
        import ray

        start = time.monotonic()
        ready = self.placement_group.ready()
        while True:
            remaining = timeout_s - (time.monotonic() - start)
            done, _ = ray.wait([ready], timeout=max(0.0, min(poll_s, remaining)))
            if done:
                ray.get(ready)
                return time.monotonic() - start
            if remaining <= 0:
                raise PlacementTimeoutError(self.missing_report(timeout_s))

    def missing_report(self, waited_s: float) -> str:
        """What the group asks for, what the cluster has, and the gap."""
        import ray

        required: dict[str, float] = {}
        for bundle in self.bundles:
            for key, value in bundle.resources.items():
                required[key] = required.get(key, 0.0) + value
        available = ray.available_resources()
        total = ray.cluster_resources()
        missing = {k: v - available.get(k, 0.0) for k, v in required.items() if v - available.get(k, 0.0) > 1e-9}
        asked = ", ".join(f"{b.role} {_fmt(b.resources)}" for b in self.bundles)
        lines = [
            f"placement group {self.name or ''} not ready after {waited_s:.0f}s ({self.strategy}, {len(self.bundles)} bundles: {asked})".replace(
                "  ", " "
            ),
            f"  needs {_fmt(required)}; cluster total {_fmt({k: total.get(k, 0.0) for k in required})}, "
            f"free {_fmt({k: available.get(k, 0.0) for k in required})}",
            f"  missing: {_fmt(missing) if missing else 'nothing in total; the bundles do not fit the nodes one by one'}",
        ]
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        unplaceable = [
            f"{b.role} {_fmt(b.resources)}"
            for b in self.bundles
            if not any(all(node.get(k, 0.0) >= v for k, v in b.resources.items()) for node in nodes)
        ]
        if unplaceable:
            lines.append(f"  no node in the cluster now is big enough for: {', '.join(sorted(set(unplaceable)))}")
        lines.append("  hint: an autoscaling cluster adds nodes that fit these bundles; otherwise lower the GPU/CPU counts or add nodes")
        return "\n".join(lines)

    def bundle_nodes(self) -> dict[int, str]:
        """Bundle index -> node id where it landed (after `wait`)."""
        from ray.util.placement_group import placement_group_table

        return {int(k): v for k, v in placement_group_table(self.placement_group)["bundles_to_node_id"].items()}

    def scheduling(self, bundle_index: int) -> Any:
        """The scheduling strategy that puts an actor or task on one bundle."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return PlacementGroupSchedulingStrategy(placement_group=self.placement_group, placement_group_bundle_index=bundle_index)

    def shutdown(self) -> None:
        from ray.util.placement_group import remove_placement_group

        remove_placement_group(self.placement_group)
