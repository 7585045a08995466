"""Learner state <-> checkpoint files: a restored learner continues exactly where it stopped."""

from __future__ import annotations

import random

import torch

from runtime.checkpoint.state import LearnerState, state_from_files, state_to_files
from runtime.learner.parallel import full_model_state, full_optimizer_state, load_full_state
from runtime.models.tiny import TinyCausalLM


def make() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(1)
    model = TinyCausalLM(vocab_size=10, d_model=16, n_layers=1, n_heads=2, max_seq_len=8)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def train_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, n: int) -> None:
    for _ in range(n):
        ids = torch.randint(0, 10, (4, 6))
        loss = model(ids).logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_restored_model_optimizer_and_rng_continue_identically() -> None:
    model, opt = make()
    train_steps(model, opt, 3)
    prompts = random.Random(5)
    prompts.random()
    state = LearnerState(
        step=3,
        model=full_model_state(model),
        optimizer=full_optimizer_state(model, opt),
        rng={"torch": torch.get_rng_state(), "prompts": prompts.getstate()},
        progress={"first_reward": 0.1},
    )
    restored = state_from_files({k: bytearray(v) for k, v in state_to_files(state).items()})
    assert restored.step == 3 and restored.progress["first_reward"] == 0.1

    train_steps(model, opt, 2)  # the original continues...
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    fresh, fresh_opt = make()  # ...and a fresh learner resumes from the files
    load_full_state(fresh, fresh_opt, restored.model, restored.optimizer)
    torch.set_rng_state(restored.rng["torch"])
    train_steps(fresh, fresh_opt, 2)
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    resumed_prompts = random.Random()
    resumed_prompts.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in restored.rng["prompts"]))
    assert resumed_prompts.random() == prompts.random()


def test_checkpoint_files_are_safetensors_and_plain_json() -> None:
    model, opt = make()
    files = state_to_files(LearnerState(step=1, model=full_model_state(model), optimizer=full_optimizer_state(model, opt)))
    from safetensors.torch import load

    assert set(load(files["model.safetensors"])) == set(model.state_dict())
    assert b'"step": 1' in files["progress.json"]
