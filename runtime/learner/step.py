"""One optimisation step on a shard of the batch: the learner's hot loop.

Kept apart from the orchestration in loop.py so the GPU benchmark times exactly this code
against a bare PyTorch loop.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from runtime.algorithms.logprobs import sequence_token_logprobs
from runtime.algorithms.policy_gradient import clipped_policy_loss
from runtime.config import AlgorithmConfig
from runtime.distributed.batched import BatchedDataDict


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shard: BatchedDataDict,
    mask: torch.Tensor,
    algo: AlgorithmConfig,
    global_tokens: float,
    world: int = 1,
) -> dict[str, float]:
    """Clipped policy-gradient step on `shard` (already on the model's device)."""
    model.train()
    logprobs, entropy = sequence_token_logprobs(model, shard["input_ids"], mask, algo.temperature)
    # Gradients are averaged over ranks, so each rank normalises by its share of the global
    # token count: the averaged gradient then equals the single-process one.
    loss, stats = clipped_policy_loss(
        logprobs, shard["old_logprobs"], shard["advantages"], shard["completion_mask"], algo.clip_epsilon, normaliser=global_tokens / world
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), algo.max_grad_norm)
    optimizer.step()
    tokens = shard["completion_mask"].sum().clamp(min=1.0)
    mean_entropy = (entropy * shard["completion_mask"]).sum() / tokens
    totals = torch.stack([loss.detach(), torch.as_tensor(stats["clip_fraction"], device=loss.device), mean_entropy.to(loss.device)]) / world
    if world > 1:
        dist.all_reduce(totals)
    norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm  # FSDP2: a DTensor
    loss_value, clip_fraction, entropy_value = totals.tolist()
    return {"loss": loss_value, "clip_fraction": clip_fraction, "entropy": entropy_value, "grad_norm": float(norm)}
