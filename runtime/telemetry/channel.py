"""`RunChannel`: a small actor on the driver's node that the learner reports to.

The learner (Ray Train rank 0) sends one record per step and a few events ("resumed",
"started", "checkpoint"); the driver drains them to print the step line and write
TensorBoard/W&B there, so logs land where the job runs, not on the learner node. At the end
the learner leaves its final state here (as checkpoint files: bytes, so this actor never
imports torch) for `RayRuntime.get_state()`.
"""

from __future__ import annotations

from typing import Any


class RunChannel:
    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._final_state: dict[str, bytes] | None = None

    def emit(self, record: dict[str, Any]) -> None:
        self._records.append(record)

    def drain(self) -> list[dict[str, Any]]:
        records, self._records = self._records, []
        return records

    def set_final_state(self, files: dict[str, bytes]) -> None:
        self._final_state = files

    def final_state(self) -> dict[str, bytes] | None:
        return self._final_state


def start_channel() -> Any:
    """The channel actor, pinned to this (the driver's) node, using no CPU."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return ray.remote(RunChannel).options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
