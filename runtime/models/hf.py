"""Hub models through Hugging Face transformers: an optional extra, imported only when asked.

Without transformers installed (or without hub access) asking for `qwen3-0.5b` & co. is a
one-line error that says what to install; the built-in `tiny` model always works.
"""

from __future__ import annotations

from typing import Any

from runtime.errors import ModelUnavailableError
from runtime.models.registry import ModelCard, Policy


def require_transformers() -> Any:
    """The transformers module, or a ModelUnavailableError that says what to install."""
    try:
        import transformers
    except ImportError:
        raise ModelUnavailableError(
            "this model needs Hugging Face transformers, which is not installed",
            hint="pip install 'transformers>=4.51' (and give the cluster hub access or a local model cache); `model: tiny` needs neither",
        ) from None
    return transformers


class HFTokenizer:
    """The runtime's tokenizer interface over a transformers tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.inner = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @property
    def vocab_size(self) -> int:
        return len(self.inner)

    def encode(self, text: str) -> list[int]:
        return list(self.inner.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return str(self.inner.decode(ids, skip_special_tokens=True))

    def ids_of(self, alphabet: str) -> list[int]:
        ids = []
        for ch in alphabet:
            encoded = self.encode(ch)
            if len(encoded) != 1:
                raise ModelUnavailableError(f"the tokenizer has no single token for {ch!r}; this task needs one")
            ids.append(encoded[0])
        return ids

    def save(self, folder: Any) -> list[str]:
        return list(self.inner.save_pretrained(str(folder)))


def load_hf_policy(card: ModelCard) -> Policy:
    transformers = require_transformers()
    import torch

    class LogitsOnly(torch.nn.Module):
        """forward(input_ids) -> logits, the interface the learner and samplers use."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids).logits

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(card.hf_id)
        model = transformers.AutoModelForCausalLM.from_pretrained(card.hf_id, torch_dtype=torch.bfloat16)
    except OSError as exc:
        raise ModelUnavailableError(
            f"could not load {card.hf_id} for alias {card.alias!r}: {exc}",
            hint="the node needs Hugging Face hub access or the model in its local cache (HF_HOME)",
        ) from None
    return Policy(module=LogitsOnly(model), tokenizer=HFTokenizer(tokenizer), card=card, model_config=model.config.to_dict())
