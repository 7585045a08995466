"""Verifiable tasks: answers recomputed from prompts, partial-credit rewards, Ray verification."""

from __future__ import annotations

import random

import pytest

from runtime.config import TaskConfig
from runtime.tasks import AddTask, ReverseTask, task_for
from runtime.verify import verify_batch, verify_with_ray


def test_reverse_rewards_each_position_in_place() -> None:
    task = ReverseTask(length=3)
    assert task.answer("472>") == "274"
    assert task.reward("472>", "274") == 1.0
    assert task.reward("472>", "270") == pytest.approx(2 / 3)
    assert task.reward("472>", "472") == pytest.approx(1 / 3)  # the middle digit is in place
    assert task.reward("472>", "") == 0.0


def test_add_answers_are_zero_padded_sums() -> None:
    task = AddTask(max_operand=9)
    assert (task.answer("7+5="), task.answer("1+2=")) == ("12", "03")
    assert task.reward("7+5=", "13") == 0.5
    with pytest.raises(ValueError):
        task.answer("7-5=")


def test_prompts_are_reproducible_from_the_rng_state() -> None:
    task = task_for(TaskConfig(kind="reverse", length=4, alphabet="ab"))
    rng = random.Random(3)
    first = [task.sample(rng).prompt for _ in range(5)]
    state = rng.getstate()
    after = [task.sample(rng).prompt for _ in range(5)]
    rng.setstate(state)
    assert [task.sample(rng).prompt for _ in range(5)] == after
    assert all(len(p) == 5 and set(p[:-1]) <= {"a", "b"} for p in first)


def test_a_uniform_policy_earns_about_one_over_the_alphabet() -> None:
    """Why the demo starts near 0.1: random digits match 1 position in 10."""
    task = ReverseTask(length=3)
    rng = random.Random(0)
    rewards = []
    for _ in range(4000):
        prompt = task.sample(rng).prompt
        guess = "".join(rng.choice(task.answer_alphabet) for _ in range(3))
        rewards.append(task.reward(prompt, guess))
    assert sum(rewards) / len(rewards) == pytest.approx(0.1, abs=0.02)


def test_verification_runs_as_batched_ray_tasks(ray_cluster: str) -> None:
    config = TaskConfig(kind="add", max_operand=9).model_dump()
    prompts = [f"{a}+{b}=" for a in range(10) for b in range(10)]
    completions = [str(a + b).zfill(2) if (a + b) % 3 else "00" for a in range(10) for b in range(10)]
    rewards, stats = verify_with_ray(config, prompts, completions, batch_size=16, num_cpus=0.5)
    assert rewards == verify_batch(config, prompts, completions)
    assert stats.tasks == 7  # ceil(100 / 16)
    assert rewards[0] == 1.0  # "0+0=" -> "00"
    assert rewards[prompts.index("1+2=")] == 0.5  # "00" vs "03"
