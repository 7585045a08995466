"""Model registry, the tiny model, hub models without the extra, and export_for_hf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runtime.config import RayRuntimeConfig
from runtime.errors import ModelUnavailableError
from runtime.models.export import export_for_hf
from runtime.models.registry import MODEL_CARDS, build_policy, model_card


def test_aliases_map_to_hub_ids_sizes_and_memory() -> None:
    assert model_card("llama3-8b").hf_id == "meta-llama/Meta-Llama-3-8B"
    assert model_card("qwen3-0.5b").hf_id.startswith("Qwen/")
    moe = model_card("qwen3-moe-a14b")
    assert moe.active_params == 14_200_000_000 and moe.params > moe.active_params
    # 16 bytes/param for a full AdamW fine-tune, 2 for bf16 sampling, +20% headroom.
    assert model_card("llama3-8b").learner_gpu_memory_gb() == pytest.approx(8.03 * 16 * 1.2, rel=1e-3)
    assert model_card("llama3-8b").sampler_gpu_memory_gb() == pytest.approx(8.03 * 2 * 1.2, rel=1e-3)
    assert set(MODEL_CARDS) == {"tiny", "qwen3-0.5b", "qwen3-moe-a14b", "llama3-8b"}


def test_unknown_alias_lists_the_known_ones() -> None:
    with pytest.raises(ModelUnavailableError, match="known: tiny, qwen3-0.5b"):
        model_card("gpt-5")


def test_hub_model_without_transformers_is_a_friendly_error() -> None:
    try:
        import transformers  # noqa: F401

        pytest.skip("transformers is installed here; the friendly error is for when it is not")
    except ImportError:
        pass
    with pytest.raises(ModelUnavailableError) as caught:
        build_policy(RayRuntimeConfig(model="qwen3-0.5b"))
    assert "needs Hugging Face transformers" in str(caught.value) and "pip install" in str(caught.value)
    assert caught.value.exit_code == 2


def test_tiny_policy_is_deterministic_from_the_seed() -> None:
    a = build_policy(RayRuntimeConfig(seed=4)).module
    b = build_policy(RayRuntimeConfig(seed=4)).module
    c = build_policy(RayRuntimeConfig(seed=5)).module
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.embed.weight, c.embed.weight)
    logits = a(torch.zeros(2, 5, dtype=torch.long))
    assert logits.shape == (2, 5, build_policy(RayRuntimeConfig()).tokenizer.vocab_size)


def test_causal_model_ignores_what_comes_after_a_position() -> None:
    model = build_policy(RayRuntimeConfig()).module.eval()
    ids = torch.tensor([[3, 4, 5, 6]])
    changed = torch.tensor([[3, 4, 9, 9]])
    assert torch.allclose(model(ids)[:, :2], model(changed)[:, :2], atol=1e-6)


def test_export_for_hf_writes_config_weights_and_tokenizer(tmp_path: Path) -> None:
    policy = build_policy(RayRuntimeConfig())
    folder = export_for_hf(policy, policy.module.state_dict(), tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer_config.json", "vocab.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "rlcloud-tiny" and config["d_model"] == 64
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    assert torch.equal(weights["embed.weight"], policy.module.embed.weight)
    vocab = json.loads((folder / "vocab.json").read_text())
    assert vocab["7"] == policy.tokenizer.encode("7")[0]
