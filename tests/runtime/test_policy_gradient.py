"""The update's math: group-relative advantages, the clipped loss, and learner/sampler
agreement on log-probabilities (a mismatch would bias every step)."""

from __future__ import annotations

import pytest
import torch

from runtime.algorithms.logprobs import allowed_mask, constrained_log_softmax, sequence_token_logprobs
from runtime.algorithms.policy_gradient import advantages, clipped_policy_loss
from runtime.models.tiny import TinyCausalLM


def test_grpo_advantages_are_relative_to_each_group() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2])
    adv = advantages(rewards, group_size=4, method="grpo", normalize=False)
    assert adv[:4].tolist() == pytest.approx([0.5, -0.5, 0.0, 0.0])
    assert adv[4:].abs().max() == 0  # a group that agrees teaches nothing
    normed = advantages(rewards, group_size=4, method="grpo", normalize=True)
    assert normed[:4].std().item() == pytest.approx(1.0, rel=1e-3)


def test_reinforce_uses_the_batch_mean() -> None:
    adv = advantages(torch.tensor([1.0, 0.0, 0.0, 0.0]), group_size=2, method="reinforce", normalize=False)
    assert adv.tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25])


def test_clipped_loss_stops_pushing_past_the_clip() -> None:
    mask = torch.ones(1, 1)
    adv = torch.tensor([1.0])
    old = torch.zeros(1, 1)
    inside = torch.tensor([[0.1]], requires_grad=True)
    loss, _ = clipped_policy_loss(inside, old, adv, mask, clip_epsilon=0.2)
    loss.backward()
    assert inside.grad is not None and inside.grad.item() < 0  # raise the good token's logprob
    beyond = torch.tensor([[0.5]], requires_grad=True)  # ratio e^0.5 > 1.2
    loss, stats = clipped_policy_loss(beyond, old, adv, mask, clip_epsilon=0.2)
    loss.backward()
    assert beyond.grad is not None and beyond.grad.item() == 0 and stats["clip_fraction"] == 1.0


def test_global_normaliser_makes_sharded_gradients_add_up() -> None:
    logp = torch.randn(6, 4, requires_grad=True)
    old, adv, mask = torch.randn(6, 4), torch.randn(6), (torch.rand(6, 4) > 0.3).float()
    full, _ = clipped_policy_loss(logp, old, adv, mask, 0.2)
    (g_full,) = torch.autograd.grad(full, logp)
    total = float(mask.sum())
    parts = [clipped_policy_loss(logp[i : i + 3], old[i : i + 3], adv[i : i + 3], mask[i : i + 3], 0.2, normaliser=total / 2)[0] for i in (0, 3)]
    # Two "ranks", gradients averaged as DDP/FSDP do.
    (g_avg,) = torch.autograd.grad((parts[0] + parts[1]) / 2, logp)
    assert torch.allclose(g_full, g_avg, atol=1e-6)


def test_learner_scores_tokens_exactly_as_the_sampler_drew_them() -> None:
    torch.manual_seed(0)
    model = TinyCausalLM(vocab_size=12, d_model=16, n_layers=1, n_heads=2, max_seq_len=8).eval()
    mask = allowed_mask(12, [3, 4, 5])
    ids = torch.tensor([[1, 2, 7]])
    sampled = []
    with torch.no_grad():
        for _ in range(3):
            logp = constrained_log_softmax(model(ids)[:, -1], mask, temperature=0.7)
            token = torch.multinomial(logp.exp(), 1)
            sampled.append(logp.gather(-1, token).item())
            ids = torch.cat([ids, token], dim=1)
        scored, entropy = sequence_token_logprobs(model, ids, mask, temperature=0.7)
    assert scored[0, 3:].tolist() == pytest.approx(sampled, abs=1e-5)
    assert set(ids[0, 3:].tolist()) <= {3, 4, 5}
    assert 0 < entropy[0, 3:].max() <= torch.log(torch.tensor(3.0)) + 1e-5
