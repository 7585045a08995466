"""Which torch device a process computes on, given the config's `device` knob.

Ray GPU resources and CUDA devices are different things: the local cluster's nodes have
`GPU` resources with no CUDA device behind them. The runtime always *reserves* GPUs as
resources (that is what places it on the right nodes) and *computes* on CUDA only when this
process can see a device, so one config runs on simulated and real GPUs alike.
"""

from __future__ import annotations

from typing import Any

from runtime.errors import ConfigError


def resolve_device(knob: str) -> Any:
    import torch

    if knob == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        # Ray sets CUDA_VISIBLE_DEVICES to the GPUs this process reserved, so device 0 is ours.
        return torch.device("cuda", 0)
    if knob == "cuda":
        raise ConfigError("device: cuda was asked for, but this process sees no CUDA device (simulated GPUs? use device: auto)")
    return torch.device("cpu")


def describe_process() -> dict[str, Any]:
    """Where this actor or worker runs: for the startup log and for tests."""
    import os

    import ray
    import torch

    context = ray.get_runtime_context()
    return {
        "pid": os.getpid(),
        "node_id": context.get_node_id(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "cuda": torch.cuda.is_available(),
        "assigned": context.get_assigned_resources(),
    }
