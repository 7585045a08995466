"""Model aliases -> what to load, how big it is, and the GPU memory it needs (seed 000).

Memory rules (per GPU memory across the learner's ranks, before activations):
- learner, full fine-tune with AdamW in mixed precision: 16 bytes/param (bf16 weights 2 +
  bf16 grads 2 + fp32 master weights 4 + two fp32 Adam moments 8), +20% headroom;
- sampler, bf16 inference: 2 bytes/param, +20% for KV cache and activations.
They are estimates for planning a layout (`learner_num_gpus`, FSDP or not), not guarantees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import ModelUnavailableError

if TYPE_CHECKING:
    from runtime.config import RayRuntimeConfig

GB = 1e9
LEARNER_BYTES_PER_PARAM = 16
SAMPLER_BYTES_PER_PARAM = 2
HEADROOM = 1.2


@dataclass(frozen=True)
class ModelCard:
    alias: str
    hf_id: str | None  # None: built locally from the config (`tiny`)
    params: int | None  # total parameters; None: depends on the config (`tiny`)
    active_params: int | None = None  # MoE: parameters used per token
    note: str = ""

    def learner_gpu_memory_gb(self, params: int | None = None) -> float:
        count = params if params is not None else self.params
        if count is None:
            raise ValueError(f"{self.alias}: parameter count depends on its config; pass params=")
        return round(count * LEARNER_BYTES_PER_PARAM * HEADROOM / GB, 2)

    def sampler_gpu_memory_gb(self, params: int | None = None) -> float:
        count = params if params is not None else self.params
        if count is None:
            raise ValueError(f"{self.alias}: parameter count depends on its config; pass params=")
        return round(count * SAMPLER_BYTES_PER_PARAM * HEADROOM / GB, 2)


MODEL_CARDS: dict[str, ModelCard] = {
    card.alias: card
    for card in (
        ModelCard("tiny", None, None, note="small causal transformer built locally from `tiny:` in the config"),
        ModelCard(
            "qwen3-0.5b",
            "Qwen/Qwen3-0.6B",
            600_000_000,
            note="Qwen3's smallest model is 0.6B; the seed's alias says 0.5b",
        ),
        ModelCard(
            "qwen3-moe-a14b",
            "Qwen/Qwen2-57B-A14B",
            57_400_000_000,
            active_params=14_200_000_000,
            note="no Qwen3 MoE has 14B active parameters (Qwen3 MoEs are 30B-A3B and 235B-A22B); the A14B Qwen MoE is Qwen2-57B-A14B",
        ),
        ModelCard("llama3-8b", "meta-llama/Meta-Llama-3-8B", 8_030_000_000),
    )
}


def model_card(alias: str) -> ModelCard:
    card = MODEL_CARDS.get(alias)
    if card is None:
        raise ModelUnavailableError(f"unknown model alias {alias!r}; known: {', '.join(MODEL_CARDS)}")
    return card


def check_model_available(alias: str) -> ModelCard:
    """The alias's card, after checking that this environment can load it (cheap: no weights)."""
    card = model_card(alias)
    if card.hf_id is not None:
        from runtime.models.hf import require_transformers

        require_transformers()
    return card


@dataclass
class Policy:
    """A policy network and its tokenizer, plus what export needs to describe them."""

    module: Any  # torch.nn.Module: forward(input_ids) -> logits
    tokenizer: Any  # CharTokenizer or HFTokenizer
    card: ModelCard
    model_config: dict[str, Any]

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


def build_policy(config: RayRuntimeConfig) -> Policy:
    """Build the policy a config names, initialised from `config.seed` (same on every rank)."""
    card = model_card(config.model)
    if card.hf_id is not None:
        from runtime.models.hf import load_hf_policy

        return load_hf_policy(card)
    import torch

    from runtime.models.tiny import TinyCausalLM
    from runtime.models.tokenizer import CharTokenizer

    tokenizer = CharTokenizer()
    torch.manual_seed(config.seed)
    module = TinyCausalLM(vocab_size=tokenizer.vocab_size, **config.tiny.model_dump())
    return Policy(module=module, tokenizer=tokenizer, card=card, model_config=dict(module.config))
