"""The sampler actor: holds one versioned copy of the policy and generates rollouts with it.

A sampler starts with no weights (version -1) and only generates for the version the learner
asks for: a sampler that missed an update, or restarted and lost its weights, raises
`StaleWeightsError` instead of silently serving an old policy. Every rollout also carries the
version that produced it, which the learner checks again.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from runtime.algorithms.logprobs import allowed_mask, constrained_log_softmax
from runtime.config import RayRuntimeConfig
from runtime.devices import describe_process, resolve_device
from runtime.distributed.batched import BatchedDataDict
from runtime.distributed.virtual_cluster import SAMPLER, RayVirtualCluster
from runtime.distributed.worker_group import RayWorkerGroup
from runtime.errors import StaleWeightsError
from runtime.models.registry import build_policy
from runtime.tasks import task_for
from runtime.weight_sync import PackedWeights, load_packed_into


class SamplerWorker:
    def __init__(self, config: dict[str, Any], index: int) -> None:
        self.config = RayRuntimeConfig.model_validate(config)
        self.index = index
        self.device = resolve_device(self.config.device)
        policy = build_policy(self.config)
        self.tokenizer = policy.tokenizer
        self.model = policy.module.to(self.device).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.task = task_for(self.config.task)
        self.mask = allowed_mask(self.tokenizer.vocab_size, self.tokenizer.ids_of(self.task.answer_alphabet), self.device)
        self.version = -1

    def describe(self) -> dict[str, Any]:
        return {**describe_process(), "index": self.index, "device": str(self.device), "version": self.version}

    def load_weights(self, packed: PackedWeights, version: int) -> int:
        """Install `packed` (read zero-copy from the object store) as `version`."""
        if packed.version != version:
            raise ValueError(f"packed weights are version {packed.version}, not {version}")
        load_packed_into(self.model, packed)
        self.version = version
        return version

    @torch.inference_mode()
    def generate(self, batch: BatchedDataDict, expected_version: int) -> BatchedDataDict:
        """Complete every prompt in `batch["prompts"]` with exactly `answer_length` tokens.

        Returns the batch's rows in order with: input_ids (prompt + completion, right-padded),
        completion_mask, old_logprobs (of each sampled token), completions (text),
        weights_version, and the time spent."""
        if self.version != expected_version:
            raise StaleWeightsError(f"sampler {self.index} holds weights v{self.version}, learner expects v{expected_version}")
        start = time.perf_counter()
        prompts: list[str] = batch["prompts"]
        generator = torch.Generator(device=self.device)
        generator.manual_seed(self.config.seed * 1_000_003 + expected_version * 1009 + self.index)
        # Same-length prompts form one dense batch (no padding inside a sequence).
        by_length: dict[int, list[int]] = {}
        encoded = [self.tokenizer.encode(p) for p in prompts]
        for row, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(row)
        pieces, order = [], []
        for rows in by_length.values():
            pieces.append(self._complete(torch.tensor([encoded[r] for r in rows], device=self.device), generator))
            order.extend(rows)
        merged = BatchedDataDict.from_batches(pieces, pad_values={"input_ids": self.tokenizer.pad_id})
        restore = sorted(range(len(order)), key=order.__getitem__)
        out = merged.select_indices(restore).to_device("cpu")
        out["prompts"] = list(prompts)
        out["completions"] = [self.tokenizer.decode(ids[start_:].tolist()) for ids, start_ in zip(out["input_ids"], (len(e) for e in encoded))]
        out["weights_version"] = torch.full((len(prompts),), self.version, dtype=torch.long)
        out["generate_seconds"] = torch.full((len(prompts),), time.perf_counter() - start)
        return out

    def _complete(self, prompt_ids: torch.Tensor, generator: torch.Generator) -> BatchedDataDict:
        ids = prompt_ids
        logprobs = []
        temperature = self.config.algorithm.temperature
        for _ in range(self.task.answer_length):
            logp = constrained_log_softmax(self.model(ids)[:, -1], self.mask, temperature)
            token = torch.multinomial(logp.exp(), 1, generator=generator)
            logprobs.append(logp.gather(-1, token))
            ids = torch.cat([ids, token], dim=1)
        prompt_len = prompt_ids.shape[1]
        completion_mask = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device)
        completion_mask[:, prompt_len:] = 1.0
        old_logprobs = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device)
        old_logprobs[:, prompt_len:] = torch.cat(logprobs, dim=1)
        return BatchedDataDict(input_ids=ids, completion_mask=completion_mask, old_logprobs=old_logprobs)


def start_samplers(cluster: RayVirtualCluster, config: RayRuntimeConfig) -> RayWorkerGroup:
    """One SamplerWorker per sampler bundle of `cluster`, restarted by Ray if it dies."""
    return RayWorkerGroup(
        cluster,
        SamplerWorker,
        cluster.bundle_indices(SAMPLER),
        init_kwargs={"config": config.model_dump()},
        per_worker_kwargs=[{"index": i} for i in range(config.num_sampler_actors)],
        max_restarts=config.sampler_max_restarts,
        name="sampler",
    )
