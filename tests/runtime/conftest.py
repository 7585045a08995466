"""Fixtures for the runtime tests: one real local Ray for the package, a bucket on the
session's moto server, small job configs, and a way to run the job as a subprocess.

Ray is started once (package scope) with simulated GPUs: `num_gpus=4` declares GPU
resources with no CUDA behind them, like the local cluster's nodes, so the runtime's GPU
layout (learner {CPU: 1, GPU: 2} + samplers {CPU: 1, GPU: 1}) is placed for real while
everything computes on CPU. It starts after the moto server, so the Ray workers it spawns
inherit the fake AWS credentials.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.moto_server import MotoServer

REPO = Path(__file__).resolve().parents[2]

#: The job every end-to-end test starts from: the demo's layout, tiny and fast.
BASE_JOB: dict[str, Any] = {
    "run_name": "test",
    "model": "tiny",
    "seed": 0,
    "learner_mode": "single",
    "learner_num_gpus": 2,
    "num_sampler_actors": 2,
    "sampler_num_gpus": 1,
    "placement_timeout_s": 60,
    "task": {"kind": "reverse", "length": 3, "prompts_per_step": 32, "group_size": 8},
}


def job_config(**overrides: Any) -> Any:
    """A validated RayRuntimeConfig: BASE_JOB with `overrides` (nested dicts merge)."""
    from runtime.config import RayRuntimeConfig

    data = {**BASE_JOB, **overrides}
    if "task" in overrides:
        data["task"] = {**BASE_JOB["task"], **overrides["task"]}
    return RayRuntimeConfig.model_validate(data)


@pytest.fixture(scope="package")
def ray_cluster(moto_server: MotoServer) -> Iterator[str]:
    """A local Ray for the whole package; yields its address for subprocess drivers."""
    import ray

    ray.init(address="local", num_cpus=6, num_gpus=4, include_dashboard=True, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def s3_uri(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server and a checkpoint URI in it; this process's SDK calls
    (and the learner's, which the driver forwards the endpoint to) go to moto."""
    import boto3

    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"ckpt-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": os.environ.get("AWS_DEFAULT_REGION", "us-west-2")}
    )
    return f"s3://{bucket}/runs/test"


def job_env(moto_server: MotoServer, ray_address: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a `python -m runtime.train` subprocess."""
    env = {**os.environ, **moto_server.env(), "PYTHONPATH": str(REPO), **extra}
    env.pop("RLCLOUD_FAILPOINT", None)
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    env.update(extra)
    return env


def run_job(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.train", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
