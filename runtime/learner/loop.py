"""The learner's training function: what every Ray Train rank runs.

Rank 0 drives the step (prompts, samplers, verification, checkpoints, telemetry); every rank
trains on its shard of the batch, and the collectives (state gathers for weight sync and
checkpoints, the batch scatter) keep them in lock step. A rank that dies takes the step with
it; Ray Train restarts the group (FailureConfig) and `_restore` resumes from the newest
complete checkpoint, so at most `checkpoint_every` steps are redone.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import torch
import torch.distributed as dist

from runtime.algorithms.logprobs import allowed_mask
from runtime.checkpoint.state import LearnerState, state_from_files, state_to_files
from runtime.checkpoint.store import CheckpointRef, CheckpointStore
from runtime.config import RayRuntimeConfig
from runtime.devices import resolve_device
from runtime.distributed.batched import BatchedDataDict
from runtime.distributed.worker_group import RayWorkerGroup
from runtime.learner.parallel import full_model_state, full_optimizer_state, load_full_state, wrap_model
from runtime.learner.step import train_step
from runtime.models.registry import build_policy
from runtime.rollouts import collect_experience
from runtime.tasks import task_for
from runtime.weight_sync import WeightPublisher

MB = 1024 * 1024


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _broadcast(obj: Any, rank: int, world: int) -> Any:
    if world == 1:
        return obj
    box = [obj if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _scatter(pieces: list[Any] | None, rank: int, world: int) -> Any:
    if world == 1:
        return pieces[0] if pieces else None
    out: list[Any] = [None]
    dist.scatter_object_list(out, pieces if rank == 0 else None, src=0)
    return out[0]


class LearnerSession:
    def __init__(self, config: RayRuntimeConfig, samplers: RayWorkerGroup, channel: Any) -> None:
        self.config = config
        self.samplers = samplers
        self.channel = channel
        self.rank, self.world = _world()
        self.device = resolve_device(config.device, train_rank=True)
        policy = build_policy(config)
        self.pad_id = policy.tokenizer.pad_id
        self.model = wrap_model(policy.module, config.learner_mode, self.device)
        algo = config.algorithm
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=algo.learning_rate, weight_decay=algo.weight_decay)
        self.task = task_for(config.task)
        self.mask = allowed_mask(policy.tokenizer.vocab_size, policy.tokenizer.ids_of(self.task.answer_alphabet), self.device)
        self.store = (
            CheckpointStore(config.run_checkpoint_uri, part_mb=config.checkpoint_part_mb, threads=config.checkpoint_threads)
            if config.run_checkpoint_uri and self.rank == 0
            else None
        )
        self.publisher = WeightPublisher(samplers) if self.rank == 0 else None
        self.step = 0
        self.prompt_rng = random.Random(config.seed)
        self.first_reward: float | None = None
        self.resumed_from: CheckpointRef | None = None

    # ------------------------------------------------------------------ telemetry

    def emit(self, record: dict[str, Any]) -> None:
        if self.rank == 0:
            self.channel.emit.remote({"time": time.time(), **record})

    # ------------------------------------------------------------------ state

    def _restore(self) -> None:
        """Resume from the newest complete checkpoint, if any (rank 0 reads, all ranks load)."""
        loaded = self.store.load_newest() if self.store is not None else None
        found = _broadcast(loaded[0].step if loaded else None, self.rank, self.world)
        if found is None:
            return
        state = state_from_files(loaded[1]) if loaded else None
        load_full_state(
            self.model,
            self.optimizer,
            state.model if state else {},
            state.optimizer if state else {},
        )
        self.step = found
        if state is not None and loaded is not None and self.store is not None:  # rank 0, which read it
            ref, _, _, stats = loaded
            self.resumed_from = ref
            self.prompt_rng.setstate(_as_tuple(state.rng["prompts"]))
            torch.set_rng_state(state.rng["torch"])
            self.first_reward = state.progress.get("first_reward")
            self.emit(
                {
                    "event": "resumed",
                    "step": found,
                    "checkpoint": f"{self.store.uri}/{ref.manifest_key}",
                    "seconds": stats.seconds,
                    "mb": stats.bytes / MB,
                }
            )

    def _full_state(self) -> LearnerState | None:
        """The whole learner state on rank 0 (None elsewhere); collective."""
        model_state = full_model_state(self.model)
        optim_state = full_optimizer_state(self.model, self.optimizer)
        if self.rank != 0:
            return None
        return LearnerState(
            step=self.step,
            model=model_state,
            optimizer=optim_state,
            rng={"torch": torch.get_rng_state(), "prompts": self.prompt_rng.getstate()},
            progress={"first_reward": self.first_reward, "weights_version": self.step, "run_name": self.config.run_name, "model": self.config.model},
        )

    def _checkpoint(self, state: LearnerState) -> dict[str, float]:
        assert self.store is not None
        files = state_to_files(state)
        ref, stats = self.store.save(self.step, files, meta={"run_name": self.config.run_name, "step": self.step})
        protect = frozenset({self.resumed_from.name}) if self.resumed_from else frozenset()
        self.store.prune(self.config.keep_checkpoints, protect=protect)
        self.emit({"event": "checkpoint", "step": self.step, "name": ref.name, "seconds": stats.seconds, "mb": stats.bytes / MB})
        return {"checkpoint_seconds": stats.seconds, "checkpoint_mb": stats.bytes / MB, "checkpoint_mb_per_s": stats.mb_per_s}

    def _publish(self) -> float:
        """Send the current weights to every sampler as version `self.step`; collective."""
        model_state = full_model_state(self.model)
        if self.rank != 0:
            return 0.0
        assert self.publisher is not None
        return self.publisher.publish(model_state, self.step).seconds

    # ------------------------------------------------------------------ one update

    def _train(self, shard: BatchedDataDict, global_tokens: float) -> dict[str, float]:
        return train_step(self.model, self.optimizer, shard.to_device(self.device), self.mask, self.config.algorithm, global_tokens, self.world)

    # ------------------------------------------------------------------ the run

    def run(self) -> dict[str, Any]:
        self._restore()
        import ray

        self.emit(
            {
                "event": "started",
                "step": self.step,
                "world_size": self.world,
                "device": str(self.device),
                "mode": self.config.learner_mode,
                "placement_group": ray.get_runtime_context().get_placement_group_id(),
            }
        )
        self._publish()
        last: dict[str, Any] = {}
        state: LearnerState | None = None
        gathered_final = False  # same value on every rank: the final gather is collective
        while self.step < self.config.max_steps:
            step_start = time.perf_counter()
            experience = None
            if self.rank == 0:
                assert self.publisher is not None
                experience = collect_experience(self.config, self.task, self.prompt_rng, self.samplers, self.publisher, self.step, self.pad_id)
                shards = experience.batch.shard_by_batch_size(self.world)
                global_tokens = float(experience.batch["completion_mask"][:, 1:].sum())
            else:
                shards, global_tokens = None, 0.0
            shard, global_tokens = _scatter([(s, global_tokens) for s in shards] if shards else None, self.rank, self.world)
            train_start = time.perf_counter()
            train_stats = self._train(shard, global_tokens)
            train_seconds = time.perf_counter() - train_start
            self.step += 1
            is_last = self.step == self.config.max_steps
            # After the last step no sampler needs weights: skip that sync.
            sync_seconds = None if is_last else self._publish()
            extra: dict[str, float] = {}
            if self.config.checkpoint_uri and (self.step % self.config.checkpoint_every == 0 or is_last):
                state = self._full_state()
                gathered_final = is_last
                if state is not None:
                    extra = self._checkpoint(state)
            if self.rank == 0 and experience is not None:
                last = self._step_record(experience, train_stats, train_seconds, sync_seconds, time.perf_counter() - step_start, extra)
                self.emit(last)
        final = state if gathered_final else self._full_state()
        if final is not None:
            ray.get(self.channel.set_final_state.remote(state_to_files(final)))
        return last

    def _step_record(
        self, exp: Any, train: dict[str, float], train_seconds: float, sync_seconds: float | None, step_seconds: float, extra: dict[str, float]
    ) -> dict[str, Any]:
        reward = float(exp.rewards.mean())
        if self.first_reward is None:
            self.first_reward = reward
        rollouts = exp.batch.size
        record: dict[str, Any] = {
            "event": "step",
            "step": self.step,
            "max_steps": self.config.max_steps,
            "reward_mean": reward,
            "reward_std": float(exp.rewards.std()),
            "reward_first": self.first_reward,
            **train,
            "learner_tokens_per_s": float((exp.batch["input_ids"] != self.pad_id).sum()) / train_seconds,
            "sampler_rollouts_per_s": rollouts / exp.generate_seconds,
            "sampler_tokens_per_s": exp.generated_tokens / exp.generate_seconds,
            "verify_tasks_per_s": exp.verify_tasks / exp.verify_seconds if exp.verify_seconds else 0.0,
            "verify_rollouts_per_s": rollouts / exp.verify_seconds if exp.verify_seconds else 0.0,
            "step_seconds": step_seconds,
            "sampler_retries": exp.sampler_retries,
            **extra,
        }
        if sync_seconds is not None:
            record["sync_seconds"] = sync_seconds
        utilisation = _gpu_utilisation(self.device)
        if utilisation is not None:
            record["learner_gpu_utilization"] = utilisation
        return record


def _as_tuple(value: Any) -> Any:
    """random.setstate wants tuples; a state that went through a checkpoint may be lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def _gpu_utilisation(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    try:
        return float(torch.cuda.utilization(device))
    except Exception:  # pynvml missing or NVML unavailable: skip the metric, keep training
        return None


def learner_loop(loop_config: dict[str, Any]) -> None:
    """Ray Train's `train_loop_per_worker`. (No `ray.train.report`: V2 keeps reported metrics
    only with Train checkpoints, and ours go to the checkpoint store and the channel.)"""
    os.environ.update(loop_config.get("env", {}))
    config = RayRuntimeConfig.model_validate(loop_config["config"])
    LearnerSession(config, loop_config["samplers"], loop_config["channel"]).run()
