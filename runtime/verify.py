"""Reward verification as Ray tasks: batched (one task per `verify_batch_size` rollouts, to
amortise scheduling) and SPREAD over the cluster's nodes (seed 001).

The task function imports only `runtime.tasks` (pure Python), so verification workers start
without torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


def verify_batch(task_config: dict[str, Any], prompts: list[str], completions: list[str]) -> list[float]:
    """Rewards for one batch, recomputing every answer from its prompt."""
    from runtime.config import TaskConfig
    from runtime.tasks import task_for

    task = task_for(TaskConfig.model_validate(task_config))
    return [task.reward(p, c) for p, c in zip(prompts, completions)]


@dataclass
class VerifyStats:
    tasks: int
    seconds: float

    @property
    def tasks_per_s(self) -> float:
        return self.tasks / self.seconds if self.seconds > 0 else 0.0


_REMOTE: Any = None


def _remote_verify() -> Any:
    global _REMOTE
    if _REMOTE is None:
        import ray

        _REMOTE = ray.remote(verify_batch)
    return _REMOTE


def verify_with_ray(
    task_config: dict[str, Any], prompts: list[str], completions: list[str], *, batch_size: int, num_cpus: float
) -> tuple[list[float], VerifyStats]:
    """Rewards in input order, verified by ceil(n / batch_size) SPREAD Ray tasks."""
    import ray

    start = time.perf_counter()
    remote = _remote_verify().options(scheduling_strategy="SPREAD", num_cpus=num_cpus)
    refs = [remote.remote(task_config, prompts[i : i + batch_size], completions[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
    rewards = [r for chunk in ray.get(refs) for r in chunk]
    return rewards, VerifyStats(tasks=len(refs), seconds=time.perf_counter() - start)
