"""Log-probabilities of tokens under the policy, exactly as the samplers sampled them.

Samplers draw from softmax(logits / temperature) restricted to the task's answer alphabet;
the learner scores the same tokens the same way. If the two disagreed, the importance ratio
in the loss would be biased from the first step.
"""

from __future__ import annotations

import torch


def allowed_mask(vocab_size: int, allowed_ids: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """0 for allowed tokens, -inf for the rest: add it to logits."""
    mask = torch.full((vocab_size,), float("-inf"), device=device)
    mask[torch.as_tensor(allowed_ids, device=device)] = 0.0
    return mask


def constrained_log_softmax(logits: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.log_softmax(logits.float() / temperature + mask, dim=-1)


def sequence_token_logprobs(
    module: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per position t >= 1 (column 0 is 0): log p(input_ids[:, t] | input_ids[:, :t]), and the
    entropy of that constrained distribution (a readable sign of the policy sharpening)."""
    logits = module(input_ids[:, :-1])
    logp = constrained_log_softmax(logits, mask, temperature)
    picked = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    # Tokens outside the alphabet (prompt, padding) score -inf; callers mask them out, but
    # keep them finite so a 0 * -inf never turns the loss into NaN.
    picked = torch.nan_to_num(picked, neginf=0.0)
    with torch.no_grad():
        probs = logp.exp()
        entropy = -torch.where(probs > 0, probs * logp, torch.zeros_like(logp)).sum(-1)
    pad = torch.nn.functional.pad
    return pad(picked, (1, 0), value=0.0), pad(entropy, (1, 0), value=0.0)
