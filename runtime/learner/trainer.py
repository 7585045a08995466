"""Build the learner's TorchTrainer from a config: ranks, per-rank resources, backend,
failure handling, and the run placement (learner/placement.py).

Simulated GPUs: ranks reserve `GPU` *resources* (`use_gpu=True` with `resources_per_worker`),
which is what puts them on the GPU node, but the process-group backend and the device follow
what the learner node can really do: NCCL and CUDA only when CUDA is there, gloo and CPU
otherwise (Ray Train would pick NCCL for any GPU request, and fail without CUDA).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

from runtime.config import RayRuntimeConfig
from runtime.distributed.virtual_cluster import LEARNER, RayVirtualCluster
from runtime.distributed.worker_group import RayWorkerGroup
from runtime.failpoints import ENV as FAILPOINT_ENV
from runtime.learner.placement import LearnerPlacement, LearnerTrainer

#: Driver environment the learner needs too. Ray Jobs do not pass the driver's environment to
#: the workers; a custom storage endpoint (MinIO or moto for S3, an emulator for Cloud
#: Storage, another Blob endpoint), its CA bundle and test failpoints must reach the process
#: that writes checkpoints. Credentials are not forwarded: nodes have their own.
FORWARDED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
    "STORAGE_EMULATOR_HOST",
    "API_ENDPOINT_OVERRIDE",
    "RLCLOUD_AZURE_BLOB_ENDPOINT",
    "REQUESTS_CA_BUNDLE",
    FAILPOINT_ENV,
)


def rank_resources(config: RayRuntimeConfig) -> dict[str, float]:
    """What each learner rank reserves inside its node's bundle."""
    ranks = config.learner_ranks
    resources = {"CPU": config.learner_num_cpus / ranks}
    if config.learner_num_gpus:
        resources["GPU"] = config.learner_num_gpus / ranks
    return resources


def rank_bundles(config: RayRuntimeConfig, cluster: RayVirtualCluster) -> tuple[int, ...]:
    """Bundle index of each rank: ranks split evenly over the learner's node bundles."""
    learner = cluster.bundle_indices(LEARNER)
    per_node = config.learner_ranks // len(learner)
    return tuple(learner[rank // per_node] for rank in range(config.learner_ranks))


def learner_has_cuda(config: RayRuntimeConfig, cluster: RayVirtualCluster) -> Any:
    """ObjectRef of a probe run in the learner's first bundle: can torch there see CUDA?"""
    import ray

    def probe() -> bool:
        import torch

        return bool(torch.cuda.is_available())

    bundle = cluster.bundle_indices(LEARNER)[0]
    return ray.remote(probe).options(num_cpus=0, scheduling_strategy=cluster.scheduling(bundle)).remote()


def torch_backend(config: RayRuntimeConfig, cuda_on_learner: bool) -> str:
    if config.device == "cpu" or not config.learner_num_gpus:
        return "gloo"
    if config.device == "cuda" or cuda_on_learner:
        return "nccl"
    return "gloo"


def build_trainer(
    config: RayRuntimeConfig,
    cluster: RayVirtualCluster,
    samplers: RayWorkerGroup,
    channel: Any,
    *,
    backend: str,
) -> LearnerTrainer:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig

    from runtime.learner.loop import learner_loop

    scaling = ScalingConfig(
        num_workers=config.learner_ranks,
        use_gpu=config.learner_num_gpus > 0,
        resources_per_worker=rank_resources(config),
    )
    # Ray Train keeps only run bookkeeping here (checkpoints go to our store), so a local
    # directory is enough even on a multi-node cluster.
    storage = os.path.join(tempfile.gettempdir(), "rlcloud-ray-train")
    run_config = RunConfig(
        name=f"{config.run_name}-{uuid.uuid4().hex[:8]}",
        storage_path=storage,
        failure_config=FailureConfig(max_failures=config.learner_max_failures),
    )
    return LearnerTrainer(
        learner_loop,
        train_loop_config={
            "config": config.model_dump(),
            "samplers": samplers,
            "channel": channel,
            "env": {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ},
        },
        torch_config=TorchConfig(backend=backend),
        scaling_config=scaling,
        run_config=run_config,
        learner_placement=LearnerPlacement(cluster.placement_group, rank_bundles(config, cluster)),
    )
