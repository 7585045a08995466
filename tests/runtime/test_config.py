"""RayRuntimeConfig: precedence of its sources, errors that say where and what, CLI exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config import RayRuntimeConfig
from runtime.config_load import describe_fields, load_config, parse_override
from runtime.errors import ConfigError
from tests.runtime.conftest import REPO

ENV = {"RLCLOUD_CHECKPOINT_URI": "s3://from-env/prefix"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_set_beats_yaml_beats_env_beats_default(tmp_path: Path) -> None:
    path = write(tmp_path, "max_steps: 12\ncheckpoint_uri: s3://from-yaml/p\ntask:\n  group_size: 4\n")
    assert load_config(None, environ={}).max_steps == RayRuntimeConfig().max_steps
    assert load_config(None, environ=ENV).checkpoint_uri == "s3://from-env/prefix"
    from_yaml = load_config(path, environ=ENV)
    assert (from_yaml.checkpoint_uri, from_yaml.max_steps, from_yaml.task.group_size) == ("s3://from-yaml/p", 12, 4)
    overridden = load_config(path, ["max_steps=30", "checkpoint_uri=s3://bkt/p", "task.group_size=2"], environ=ENV)
    assert (overridden.checkpoint_uri, overridden.max_steps, overridden.task.group_size) == ("s3://bkt/p", 30, 2)


def test_env_fills_checkpoint_uri_only_when_yaml_leaves_it_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "checkpoint_uri: null\n")
    assert load_config(path, environ=ENV).checkpoint_uri == "s3://from-env/prefix"


def test_errors_name_their_source_and_the_expected_value(tmp_path: Path) -> None:
    path = write(tmp_path, "max_steps: 10\nlearner_mode: tensor\ntask:\n  kind: reverse\n  grup_size: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["num_sampler_actors=lots"], environ={"RLCLOUD_CHECKPOINT_URI": "http://nope"})
    message = str(caught.value)
    assert f"{path}:2: learner_mode:" in message and "'single', 'ddp' or 'fsdp'" in message
    assert f"{path}:5: task.grup_size: unknown field; did you mean 'group_size'?" in message
    assert "--set num_sampler_actors=lots: num_sampler_actors: Input should be a valid integer" in message
    assert (
        "$RLCLOUD_CHECKPOINT_URI: checkpoint_uri: unsupported scheme http://; expected s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], az://ACCOUNT/CONTAINER[/PREFIX] or file:///ABSOLUTE/PATH"
        in message
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"learner_mode": "ddp", "learner_num_gpus": 3, "learner_num_workers": 2}, "must split evenly over the 2 learner ranks"),
        ({"learner_mode": "single", "learner_num_workers": 2}, "`single` mode runs exactly 1 learner rank"),
        ({"learner_num_nodes": 2, "learner_num_gpus": 3}, "must split evenly over learner_num_nodes"),
        ({"tiny": {"d_model": 30, "n_heads": 4}}, "n_heads (4) must divide d_model (30)"),
        ({"tiny": {"max_seq_len": 8}, "task": {"length": 6}}, "shorter than the task's prompt + answer (13 tokens)"),
        ({"device": "cuda"}, "needs learner_num_gpus and sampler_num_gpus > 0"),
        ({"run_name": "has space"}, "use 1-64 of [A-Za-z0-9_.-]"),
    ],
)
def test_cross_field_rules(fields: dict, expected: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        RayRuntimeConfig.model_validate(fields)
    assert expected in str(caught.value)


def test_learner_ranks_follow_mode_and_gpus() -> None:
    assert RayRuntimeConfig(learner_mode="single", learner_num_gpus=2).learner_ranks == 1
    assert RayRuntimeConfig(learner_mode="ddp", learner_num_gpus=4).learner_ranks == 4
    assert RayRuntimeConfig(learner_mode="fsdp").learner_ranks == 2
    assert RayRuntimeConfig(learner_mode="ddp", learner_num_workers=3).learner_ranks == 3


def test_override_values_are_yaml_scalars_and_bad_syntax_is_refused() -> None:
    assert parse_override("a.b=3") == (("a", "b"), 3)
    assert parse_override("flag=true") == (("flag",), True)
    assert parse_override("uri=s3://b/p") == (("uri",), "s3://b/p")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("max_steps")


def test_example_job_validates_and_fits_the_local_cluster() -> None:
    config = load_config(REPO / "examples" / "job.yaml", environ={})
    # The local cluster's learner node has {CPU: 1, GPU: 2}; sampler nodes {CPU: 1, GPU: 1}.
    assert (config.learner_num_cpus, config.learner_num_gpus) == (1, 2)
    assert (config.sampler_num_cpus, config.sampler_num_gpus) == (1, 1)
    assert 2 <= config.num_sampler_actors <= 4


def test_every_field_is_described() -> None:
    lines = describe_fields()
    assert any(line.startswith("task.group_size (default 8): ") for line in lines)
    assert all(not line.endswith(": None") for line in lines), [line for line in lines if line.endswith(": None")]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.train", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def test_cli_bad_config_exits_2_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "max_steps: -3\n")
    result = run_cli("--config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:1: max_steps: Input should be greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_missing_file_and_bad_flags_exit_2(tmp_path: Path) -> None:
    missing = run_cli("--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr and "Traceback" not in missing.stderr
    assert run_cli("--set", "max_steps").returncode == 2
    assert run_cli("--no-such-flag").returncode == 2


def test_each_run_checkpoints_in_its_own_folder_under_the_uri() -> None:
    config = RayRuntimeConfig(checkpoint_uri="s3://bucket/team/", run_name="grpo-7")
    assert config.run_checkpoint_uri == "s3://bucket/team/grpo-7"
    assert RayRuntimeConfig().run_checkpoint_uri is None


def test_cli_hub_model_without_transformers_exits_2_before_starting_ray() -> None:
    try:
        import transformers  # type: ignore[import-not-found]  # noqa: F401

        pytest.skip("transformers is installed here")
    except ImportError:
        pass
    result = run_cli("--config", "examples/job.yaml", "--set", "model=llama3-8b")
    assert result.returncode == 2
    assert "needs Hugging Face transformers" in result.stderr and "pip install" in result.stderr
    assert "Started a local Ray instance" not in result.stderr + result.stdout and "Traceback" not in result.stderr
