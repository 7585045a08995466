"""`export_for_hf`: a Hugging Face-style folder (config.json, model.safetensors, tokenizer
files) from a learner state, so the trained policy leaves the runtime in a standard shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.models.registry import Policy


def export_for_hf(policy: Policy, model_state: dict[str, Any], path: str | Path) -> Path:
    """Write `model_state` (the learner's weights) with `policy`'s config and tokenizer."""
    from safetensors.torch import save_file

    folder = Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model_state.items()}
    if policy.card.hf_id is not None:
        # Hub models: the wrapper's "model." prefix is ours, not the checkpoint format's.
        tensors = {name.removeprefix("model."): t for name, t in tensors.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = dict(policy.model_config)
    if policy.card.hf_id is None:
        config.update({"architectures": ["TinyCausalLM"], "model_type": "rlcloud-tiny", "torch_dtype": "float32"})
    config["rlcloud_alias"] = policy.card.alias
    (folder / "config.json").write_text(json.dumps(config, indent=1, default=str))
    policy.tokenizer.save(folder)
    return folder
