"""A character tokenizer for the `tiny` model (one token per character, no hub files).

Hub models bring their own tokenizer (runtime/models/hf.py); both offer the same four
things the runtime uses: encode, decode, vocab_size and the ids of an answer alphabet.
"""

from __future__ import annotations

import json
from pathlib import Path

PAD = "<pad>"
#: Index 0 is padding; the rest covers every task's prompts and answers.
TINY_VOCAB: tuple[str, ...] = (PAD, *"0123456789abcdefghijklmnopqrstuvwxyz+=>")


class CharTokenizer:
    """Maps each character to one id. Unknown characters are an error, never silently dropped."""

    def __init__(self, vocab: tuple[str, ...] = TINY_VOCAB) -> None:
        self.vocab = vocab
        self.pad_id = 0
        self._ids = {tok: i for i, tok in enumerate(vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the tiny vocabulary") from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[i] for i in ids if i != self.pad_id)

    def ids_of(self, alphabet: str) -> list[int]:
        """Token ids of an answer alphabet (for constrained decoding)."""
        return self.encode(alphabet)

    def save(self, folder: Path) -> list[str]:
        """Write Hugging Face-style tokenizer files; returns the file names written."""
        (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(self.vocab)}, indent=1))
        config = {"tokenizer_class": "CharTokenizer", "pad_token": PAD, "model_max_length": None, "rlcloud_tokenizer": "char"}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
        return ["vocab.json", "tokenizer_config.json"]
