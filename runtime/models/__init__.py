"""Models: the registry of aliases, the built-in `tiny` model, tokenizers, HF export."""
