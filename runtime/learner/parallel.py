"""Wrap the policy for the learner mode, and move full (unsharded) state in and out of it.

- single: the module on the device.
- ddp: Ray Train's `prepare_model(parallel_strategy="ddp")` (gloo on CPU, NCCL on CUDA).
- fsdp: PyTorch FSDP2 (`fully_shard`) on each block, then the whole model. Ray Train's own
  `prepare_model(parallel_strategy="fsdp")` wraps with FSDP1 and refuses to run without CUDA,
  so it cannot run on simulated GPUs; the ranks and process group are still Ray Train's.

State moves through torch.distributed.checkpoint's state-dict API in every mode, so
checkpoints hold plain parameter names (no "module." prefix, no shards) and a run saved in
one mode resumes in another.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.distributed as dist


def wrap_model(module: torch.nn.Module, mode: str, device: torch.device) -> torch.nn.Module:
    module = module.to(device)
    if mode == "single" or not dist.is_initialized() or dist.get_world_size() == 1:
        return module
    if mode == "ddp":
        import ray.train.torch

        return ray.train.torch.prepare_model(module, move_to_device=device, parallel_strategy="ddp")
    if mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        # A model may name the sub-modules to shard one by one (each its own FSDP unit).
        parallel_units = getattr(module, "parallel_units", None)
        units = parallel_units() if callable(parallel_units) else []
        for unit in units:
            fully_shard(unit)
        fully_shard(module)
        return module
    raise ValueError(f"unknown learner mode {mode!r}")


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Unsharded CPU weights on rank 0 (collective: every rank must call it)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    if not _distributed():
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # Full and offloaded: every value is a CPU tensor.
    return cast(dict[str, torch.Tensor], get_model_state_dict(model, options=_options(cpu_offload=True)))


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Unsharded optimizer state keyed by parameter name, on rank 0 (collective)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    if not _distributed():
        return get_optimizer_state_dict(model, optimizer, options=_options())
    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def load_full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, model_state: dict[str, Any], optim_state: dict[str, Any]) -> None:
    """Install full state that rank 0 holds (other ranks pass empty dicts); collective."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    options = _options(broadcast_from_rank0=_distributed())
    set_model_state_dict(model, model_state, options=options)
    set_optimizer_state_dict(model, optimizer, optim_state, options=options)
