"""Weights learner -> samplers: one object per version, versions enforced, restarted samplers
brought back up to date."""

from __future__ import annotations

import random

import pytest
import torch

from runtime.distributed.virtual_cluster import RayVirtualCluster
from runtime.errors import StaleWeightsError
from runtime.models.registry import build_policy
from runtime.rollouts import collect_experience
from runtime.sampler import start_samplers
from runtime.tasks import task_for
from runtime.weight_sync import WeightPublisher, pack_state_dict, unpack_tensors
from tests.runtime.conftest import job_config


def test_pack_unpack_roundtrips_every_dtype_without_copying() -> None:
    state = {
        "f32": torch.randn(3, 5),
        "bf16": torch.randn(7).to(torch.bfloat16),
        "i64": torch.arange(4),
        "scalar": torch.tensor(2.5),
    }
    packed = pack_state_dict(state, version=3)
    assert packed.version == 3 and all(entry[3] % 64 == 0 for entry in packed.index)
    out = unpack_tensors(packed)
    for name, tensor in state.items():
        assert out[name].dtype == tensor.dtype and torch.equal(out[name], tensor)
    assert out["f32"].untyped_storage().data_ptr() == torch.from_numpy(packed.buffer).untyped_storage().data_ptr()


@pytest.fixture
def samplers(ray_cluster: str):
    config = job_config(task={"prompts_per_step": 8, "group_size": 4}, sampler_max_restarts=2)
    cluster = RayVirtualCluster.for_run(config, name="test-sync")
    cluster.wait(60)
    group = start_samplers(cluster, config)
    yield config, group
    group.shutdown()
    cluster.shutdown()


def test_samplers_serve_only_the_version_they_hold_and_recover_after_a_restart(samplers) -> None:
    import ray

    config, group = samplers
    policy = build_policy(config)
    publisher = WeightPublisher(group)
    with pytest.raises(StaleWeightsError):  # no weights yet: never generate from the random init
        group.run_single_worker(0, "generate", {"prompts": ["123>"]}, expected_version=0)

    stats = publisher.publish(policy.module.state_dict(), version=0)
    assert stats.version == 0 and stats.nbytes >= sum(t.numel() * 4 for t in policy.module.state_dict().values())
    assert [d["version"] for d in group.run_all_workers_single_data("describe")] == [0, 0]
    with pytest.raises(StaleWeightsError, match="holds weights v0, learner expects v1"):
        group.run_single_worker(1, "generate", {"prompts": ["123>"]}, expected_version=1)

    task = task_for(config.task)
    rng = random.Random(0)
    first = collect_experience(config, task, rng, group, publisher, version=0, pad_id=0)
    assert first.batch.size == 32 and first.sampler_retries == 0
    assert set(first.batch["input_ids"][:, -3:].flatten().tolist()) <= set(policy.tokenizer.ids_of("0123456789"))

    # Kill one sampler's process: Ray restarts it empty (version -1); the next step re-sends
    # the current weights to it and asks again instead of failing or using stale weights.
    ray.kill(group.workers[1], no_restart=False)
    _wait_until_restarted_empty(group.workers[1])
    again = collect_experience(config, task, rng, group, publisher, version=0, pad_id=0)
    assert again.batch.size == 32 and again.sampler_retries >= 1
    assert [d["version"] for d in group.run_all_workers_single_data("describe")] == [0, 0]


def _wait_until_restarted_empty(actor: object, timeout: float = 60.0) -> None:
    """`ray.kill` only asks the GCS to kill the actor: a call sent right after can still reach the
    old process and succeed. Wait until the restarted process answers, holding no weights."""
    import time

    import ray
    from ray.exceptions import ActorUnavailableError, RayActorError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ray.get(actor.describe.remote(), timeout=10)["version"] == -1:  # type: ignore[attr-defined]
                return
        except (RayActorError, ActorUnavailableError):
            pass  # dead or restarting: ask again
        time.sleep(0.1)
    raise AssertionError(f"sampler was not restarted within {timeout:.0f}s")


def test_generation_is_reproducible_per_version(samplers) -> None:
    config, group = samplers
    WeightPublisher(group).publish(build_policy(config).module.state_dict(), version=5)
    batch = {"prompts": ["123>", "987>"]}
    a = group.run_single_worker(0, "generate", batch, expected_version=5)
    b = group.run_single_worker(0, "generate", batch, expected_version=5)
    assert a["completions"] == b["completions"] and torch.equal(a["old_logprobs"], b["old_logprobs"])
    assert a["weights_version"].tolist() == [5, 5]


def test_samplers_score_with_exactly_the_published_weights(samplers) -> None:
    from runtime.algorithms.logprobs import allowed_mask, sequence_token_logprobs

    config, group = samplers
    policy = build_policy(config)
    torch.manual_seed(7)
    with torch.no_grad():
        for param in policy.module.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    WeightPublisher(group).publish(policy.module.state_dict(), version=2)
    out = group.run_single_worker(1, "generate", {"prompts": ["123>", "450>"]}, expected_version=2)
    mask = allowed_mask(policy.tokenizer.vocab_size, policy.tokenizer.ids_of("0123456789"))
    with torch.no_grad():
        expected, _ = sequence_token_logprobs(policy.module.eval(), out["input_ids"], mask, config.algorithm.temperature)
    completion = out["completion_mask"].bool()
    assert torch.allclose(out["old_logprobs"][completion], expected[completion], atol=1e-5)
