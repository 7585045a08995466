"""Which torch device a process computes on, given the config's `device` knob.

Ray GPU resources and CUDA devices are different things: the local cluster's nodes have
`GPU` resources with no CUDA device behind them. The runtime always *reserves* GPUs as
resources (that is what places it on the right nodes) and *computes* on CUDA only when this
process can see a device, so one config runs on simulated and real GPUs alike.
"""

from __future__ import annotations

from typing import Any

from runtime.errors import ConfigError


def resolve_device(knob: str, *, train_rank: bool = False) -> Any:
    """CUDA if the knob allows it and this process sees a device, else CPU.

    Ray sets CUDA_VISIBLE_DEVICES to the GPUs an actor reserved, so an actor's device is
    cuda:0; Ray Train shows a node's ranks all of the node's GPUs (for NCCL), so a rank asks
    Ray Train which one is its own."""
    import torch

    if knob != "cpu" and torch.cuda.is_available():
        if train_rank:
            import ray.train.torch

            device = ray.train.torch.get_device()
        else:
            device = torch.device("cuda", 0)
        torch.cuda.set_device(device)
        return device
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
