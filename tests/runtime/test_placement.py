"""The run's one placement group: learner bundles first, one bundle per sampler, actors on
their own bundles, and a timeout that names what is missing."""

from __future__ import annotations

import pytest

from runtime.distributed.virtual_cluster import LEARNER, SAMPLER, BundleSpec, RayVirtualCluster, run_bundles
from runtime.distributed.worker_group import RayWorkerGroup
from runtime.errors import PlacementTimeoutError
from tests.runtime.conftest import job_config


class Probe:
    """A worker that reports which bundle resources it was given."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def where(self) -> tuple[str | None, list[str]]:
        import ray

        return ray.get_runtime_context().get_placement_group_id(), [str(g) for g in ray.get_gpu_ids()]

    def echo(self, item: object, suffix: str = "") -> str:
        return f"{self.tag}:{item}{suffix}"


def test_bundles_put_the_learner_first_then_one_per_sampler() -> None:
    config = job_config(num_sampler_actors=3, learner_num_nodes=2, learner_mode="ddp")
    bundles = run_bundles(config)
    assert [b.role for b in bundles] == [LEARNER, LEARNER, SAMPLER, SAMPLER, SAMPLER]
    assert bundles[0].resources == {"CPU": 0.5, "GPU": 1.0}
    assert bundles[2].resources == {"CPU": 1.0, "GPU": 1.0}
    cpu_only = run_bundles(job_config(learner_num_gpus=0, sampler_num_gpus=0))
    assert all("GPU" not in b.resources for b in cpu_only)


def test_workers_sit_on_their_own_bundles_and_fan_out(ray_cluster: str) -> None:
    cluster = RayVirtualCluster.for_run(job_config(num_sampler_actors=3, learner_num_gpus=1), name="test-fanout")
    try:
        cluster.wait(60)
        import ray

        group = RayWorkerGroup(cluster, Probe, cluster.bundle_indices(SAMPLER), per_worker_kwargs=[{"tag": t} for t in "abc"])
        where = group.run_all_workers_single_data("where")
        assert {pg for pg, _ in where} == {cluster.placement_group.id.hex()}
        assert len({gpu for _, gpus in where for gpu in gpus}) == 3  # one GPU each
        # The learner bundle is still whole: something asking for all of it runs at once.
        learner_fits = ray.remote(lambda: True).options(num_cpus=1, num_gpus=1, scheduling_strategy=cluster.scheduling(0))
        assert ray.get(learner_fits.remote(), timeout=30)
        assert group.run_all_workers_single_data("echo", 1, suffix="!") == ["a:1!", "b:1!", "c:1!"]
        assert group.run_all_workers_multiple_data("echo", [1, 2, 3]) == ["a:1", "b:2", "c:3"]
        with pytest.raises(ValueError):
            group.run_all_workers_multiple_data("echo", [1, 2])
        group.shutdown()
    finally:
        cluster.shutdown()


def test_waiting_times_out_naming_the_missing_resources(ray_cluster: str) -> None:
    cluster = RayVirtualCluster(
        [BundleSpec(LEARNER, {"CPU": 1, "GPU": 8}), BundleSpec(SAMPLER, {"CPU": 1, "GPU": 1})], strategy="SPREAD", name="too-big"
    )
    try:
        with pytest.raises(PlacementTimeoutError) as caught:
            cluster.wait(1.5, poll_s=0.5)
    finally:
        cluster.shutdown()
    message = str(caught.value)
    assert "not ready after 2s" in message or "not ready after 1s" in message
    assert "needs {CPU: 2, GPU: 9}" in message
    assert "missing: {GPU: 5}" in message  # 4 simulated GPUs in the test cluster
    assert "no node in the cluster now is big enough for: learner {CPU: 1, GPU: 8}" in message
