"""GRPO- and REINFORCE-style advantages and the clipped policy-gradient loss.

GRPO (group relative): each prompt is answered `group_size` times and a completion's
advantage is its reward minus its group's mean (optionally over the group's std), so no
value network is needed and prompts of different difficulty are comparable. REINFORCE here
uses the batch mean as the baseline. Both feed the same PPO-style clipped objective, whose
ratio is 1 when learner and sampler agree (on-policy) and guards the step when they drift.
"""

from __future__ import annotations

import torch

EPS = 1e-4


def advantages(rewards: torch.Tensor, group_size: int, *, method: str, normalize: bool) -> torch.Tensor:
    """Per-completion advantages; `rewards` is ordered group by group."""
    if method == "grpo":
        grouped = rewards.view(-1, group_size)
        centred = grouped - grouped.mean(dim=1, keepdim=True)
        if normalize and group_size > 1:
            centred = centred / (grouped.std(dim=1, keepdim=True) + EPS)
        return centred.reshape(-1)
    if method == "reinforce":
        centred = rewards - rewards.mean()
        if normalize and rewards.numel() > 1:
            centred = centred / (rewards.std() + EPS)
        return centred
    raise ValueError(f"unknown method {method!r}")


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    token_mask: torch.Tensor,
    clip_epsilon: float,
    normaliser: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Token-level clipped surrogate, averaged over completion tokens.

    `normaliser` is the number of completion tokens in the whole (global) batch, so that when
    the batch is sharded over data-parallel ranks the all-reduced gradient equals the
    single-process one; default: this shard's token count.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(-1)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_epsilon, 1 + clip_epsilon) * adv)
    tokens = token_mask.sum()
    denominator = normaliser if normaliser is not None else tokens.clamp(min=1.0)
    loss = -(surrogate * token_mask).sum() / denominator
    with torch.no_grad():
        clipped = ((ratio - 1).abs() > clip_epsilon).float()
        stats = {
            "clip_fraction": float((clipped * token_mask).sum() / tokens.clamp(min=1.0)),
            "ratio_mean": float((ratio * token_mask).sum() / tokens.clamp(min=1.0)),
        }
    return loss, stats
