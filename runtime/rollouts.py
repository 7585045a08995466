"""One step's experience: prompts -> samplers -> verification -> advantages -> a training batch.

Runs on the learner's rank 0. Samplers that died (Ray restarts them, empty) or that do not
hold the current weights are brought up to date and asked again, so a step never trains on
rollouts from the wrong policy.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import torch

from runtime.algorithms.policy_gradient import advantages
from runtime.config import RayRuntimeConfig
from runtime.distributed.batched import BatchedDataDict
from runtime.distributed.worker_group import RayWorkerGroup
from runtime.errors import StaleWeightsError
from runtime.tasks import Task
from runtime.verify import verify_with_ray
from runtime.weight_sync import WeightPublisher

SAMPLER_RETRIES = 2


@dataclass
class StepExperience:
    batch: BatchedDataDict  # input_ids, completion_mask, old_logprobs, advantages, rewards
    generate_seconds: float
    generated_tokens: int
    verify_seconds: float
    verify_tasks: int
    sampler_retries: int

    @property
    def rewards(self) -> torch.Tensor:
        return self.batch["rewards"]


def _generate_one(
    samplers: RayWorkerGroup, publisher: WeightPublisher, index: int, shard: BatchedDataDict, version: int, first: Any
) -> tuple[BatchedDataDict, int]:
    """Rollouts from sampler `index`, re-syncing and retrying it if it lost its weights."""
    import ray
    from ray.exceptions import ActorUnavailableError, RayActorError

    ref, retries = first, 0
    while True:
        try:
            return ray.get(ref), retries
        except (StaleWeightsError, RayActorError, ActorUnavailableError):
            if retries >= SAMPLER_RETRIES:
                raise
            retries += 1
            publisher.resync(index)  # blocks until a restarted actor is back, then loads
            ref = samplers.workers[index].generate.remote(shard, expected_version=version)


def collect_experience(
    config: RayRuntimeConfig,
    task: Task,
    prompt_rng: random.Random,
    samplers: RayWorkerGroup,
    publisher: WeightPublisher,
    version: int,
    pad_id: int,
) -> StepExperience:
    prompts = [task.sample(prompt_rng).prompt for _ in range(config.task.prompts_per_step)]
    batch = BatchedDataDict(prompts=prompts).repeat_interleave(config.task.group_size)

    start = time.perf_counter()
    shards = batch.shard_by_batch_size(len(samplers))
    refs = samplers.run_all_workers_multiple_data_async("generate", shards, expected_version=version)
    pieces, retries = [], 0
    for index, (shard, ref) in enumerate(zip(shards, refs)):
        piece, tries = _generate_one(samplers, publisher, index, shard, version, ref)
        pieces.append(piece)
        retries += tries
    rollouts = BatchedDataDict.from_batches(pieces, pad_values={"input_ids": pad_id})
    generate_seconds = time.perf_counter() - start
    stale = set(rollouts["weights_version"].tolist()) - {version}
    if stale:
        raise StaleWeightsError(f"rollouts from weights {sorted(stale)} in a step that expects v{version}")

    rewards, verify_stats = verify_with_ray(
        config.task.model_dump(),
        rollouts["prompts"],
        rollouts["completions"],
        batch_size=config.verify_batch_size,
        num_cpus=config.verify_num_cpus,
    )
    reward_tensor = torch.tensor(rewards, dtype=torch.float32)
    adv = advantages(
        reward_tensor,
        config.task.group_size,
        method=config.algorithm.name,
        normalize=config.algorithm.normalize_advantages,
    )
    train_batch = BatchedDataDict(
        input_ids=rollouts["input_ids"],
        completion_mask=rollouts["completion_mask"],
        old_logprobs=rollouts["old_logprobs"],
        advantages=adv,
        rewards=reward_tensor,
    )
    return StepExperience(
        batch=train_batch,
        generate_seconds=generate_seconds,
        generated_tokens=int(rollouts["completion_mask"].sum().item()),
        verify_seconds=verify_stats.seconds,
        verify_tasks=verify_stats.tasks,
        sampler_retries=retries,
    )
