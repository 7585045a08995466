"""Learner -> samplers weight sync through the object store: one `ray.put` per version.

The state dict is packed into one contiguous byte buffer (plus a small index), so Ray stores
it as a single object that every sampler maps zero-copy from its node's object store; each
node fetches it once however many samplers it hosts. Every copy carries its version, and a
sampler refuses to generate for a version it does not hold (see sampler.py).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from runtime.distributed.worker_group import RayWorkerGroup

ALIGN = 64  # every tensor starts on a 64-byte boundary, so any dtype can view its bytes


@dataclass
class PackedWeights:
    version: int
    buffer: np.ndarray  # uint8
    index: list[tuple[str, str, tuple[int, ...], int, int]]  # name, dtype, shape, offset, nbytes

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)


def pack_state_dict(state: dict[str, torch.Tensor], version: int) -> PackedWeights:
    index, offset = [], 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        index.append((name, str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape), offset, nbytes))
        offset += -(-nbytes // ALIGN) * ALIGN
    buffer = np.empty(offset, dtype=np.uint8)
    flat = torch.from_numpy(buffer)
    for (_, _, _, start, nbytes), tensor in zip(index, state.values()):
        flat[start : start + nbytes].copy_(tensor.detach().contiguous().view(-1).view(torch.uint8).cpu())
    return PackedWeights(version=version, buffer=buffer, index=index)


def unpack_tensors(packed: PackedWeights) -> dict[str, torch.Tensor]:
    """Tensors viewing `packed.buffer` (no copy). The buffer may be read-only (object store)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        flat = torch.from_numpy(packed.buffer)
    return {name: flat[offset : offset + nbytes].view(getattr(torch, dtype)).view(shape) for name, dtype, shape, offset, nbytes in packed.index}


def load_packed_into(module: torch.nn.Module, packed: PackedWeights) -> None:
    """Install a packed state as `module`'s weights (names, shapes and dtypes must match).

    On CPU the parameters become views of the packed buffer itself: no copy, and samplers on
    one node share the object store's single copy. That is safe because samplers only run
    inference (the buffer may be read-only). On CUDA each sampler copies to its own device.
    Plain attribute swaps rather than load_state_dict: this runs once per version on every
    sampler, and its fixed cost is what grows with the sampler count."""
    tensors = unpack_tensors(packed)
    targets: dict[str, torch.Tensor] = dict(module.named_parameters())
    targets.update(module.named_buffers())
    if targets.keys() != tensors.keys():
        missing, unexpected = sorted(targets.keys() - tensors.keys()), sorted(tensors.keys() - targets.keys())
        raise ValueError(f"packed weights do not fit the model: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for name, source in tensors.items():
            target = targets[name]
            if target.shape != source.shape or target.dtype != source.dtype:
                raise ValueError(f"{name}: packed {source.dtype}{tuple(source.shape)}, model {target.dtype}{tuple(target.shape)}")
            if target.device.type == "cpu":
                target.data = source
            else:
                target.copy_(source, non_blocking=True)
        if any(t.device.type == "cuda" for t in targets.values()):
            torch.cuda.synchronize()


@dataclass
class SyncStats:
    version: int
    seconds: float  # the whole sync: pack + put + every sampler loaded
    nbytes: int
    put_seconds: float  # pack + ray.put, paid once whatever the sampler count


class WeightPublisher:
    """Publishes each new version to every sampler and remembers the latest, so a sampler
    that restarted (and lost its weights) can be brought up to date."""

    def __init__(self, samplers: RayWorkerGroup) -> None:
        self.samplers = samplers
        self.latest_ref: Any = None
        self.latest_version = -1

    def publish(self, state: dict[str, torch.Tensor], version: int) -> SyncStats:
        import ray

        start = time.perf_counter()
        packed = pack_state_dict(state, version)
        ref = ray.put(packed)
        put_seconds = time.perf_counter() - start
        held = self.samplers.run_all_workers_single_data("load_weights", ref, version)
        if any(v != version for v in held):
            raise RuntimeError(f"weight sync to version {version} failed: samplers hold {held}")
        self.latest_ref, self.latest_version = ref, version
        return SyncStats(version=version, seconds=time.perf_counter() - start, nbytes=packed.nbytes, put_seconds=put_seconds)

    def resync(self, worker_index: int, timeout_s: float = 120.0) -> None:
        """Send the latest version to one sampler, waiting while Ray restarts it."""
        from ray.exceptions import ActorUnavailableError

        if self.latest_ref is None:
            return
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.samplers.run_single_worker(worker_index, "load_weights", self.latest_ref, self.latest_version)
                return
            except ActorUnavailableError:  # still restarting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
