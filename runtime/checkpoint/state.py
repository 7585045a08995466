"""The learner's state (model, optimizer, RNG, step counter) <-> the files of a checkpoint.

- model.safetensors: weights (safetensors: no pickle, loadable by Hugging Face tooling);
- optimizer.pt: the full optimizer state dict (torch.save, loaded with weights_only=True);
- rng.pt: torch CPU/CUDA generator states and the prompt sampler's Python RNG state;
- progress.json: step, weights version, the reward the run started from; readable by eye.

Restoring all four is what makes a resumed run continue its reward curve rather than
restart it: same weights, same Adam moments, same next prompts, same step numbers.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.pt"
PROGRESS_FILE = "progress.json"


@dataclass
class LearnerState:
    step: int
    model: dict[str, Any]  # name -> CPU tensor
    optimizer: dict[str, Any]
    rng: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.model.values())


def _unshared(tensors: dict[str, Any]) -> dict[str, Any]:
    """safetensors refuses tensors that share memory (tied embeddings): give each its own."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        out[name] = tensor.clone() if key in seen else tensor
        seen.add(key)
    return out


def state_to_files(state: LearnerState) -> dict[str, bytes]:
    import torch
    from safetensors.torch import save as save_safetensors

    def torch_bytes(obj: Any) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    progress = {**state.progress, "step": state.step}
    return {
        MODEL_FILE: save_safetensors(_unshared(state.model)),
        OPTIMIZER_FILE: torch_bytes(state.optimizer),
        RNG_FILE: torch_bytes(state.rng),
        PROGRESS_FILE: json.dumps(progress, indent=1).encode(),
    }


def state_from_files(files: dict[str, Any]) -> LearnerState:
    import torch
    from safetensors.torch import load as load_safetensors

    progress = json.loads(bytes(files[PROGRESS_FILE]))
    return LearnerState(
        step=int(progress["step"]),
        model=load_safetensors(bytes(files[MODEL_FILE])),
        optimizer=torch.load(io.BytesIO(files[OPTIMIZER_FILE]), weights_only=True),
        rng=torch.load(io.BytesIO(files[RNG_FILE]), weights_only=True),
        progress=progress,
    )
