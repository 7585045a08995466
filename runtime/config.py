"""`RayRuntimeConfig`: everything a run needs, as one validated pydantic model.

Every field is described (the descriptions are the documentation, and `python -m
runtime.train --help-config` prints them). Unknown keys are errors. Cross-field rules (a DDP
learner's GPUs must split evenly over its ranks, ...) live in the model's after-validator,
so a config built in Python is held to the same rules as one loaded from YAML.

Where values come from, highest first: `--set key=value`, the YAML file, the environment
(`RLCLOUD_CHECKPOINT_URI`, set by `rlcloud submit`), then the defaults here. See
`runtime/config_load.py`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rlcloud_contract.storage_uri import parse_uri

PlacementStrategy = Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]
LearnerMode = Literal["single", "ddp", "fsdp"]
Device = Literal["auto", "cpu", "cuda"]

RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RuntimeModel(BaseModel):
    """Base for the config models: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


class TaskConfig(RuntimeModel):
    """The verifiable task: prompts are generated, answers are checked by code."""

    kind: Annotated[
        Literal["reverse", "add"],
        Field(
            description="`reverse`: write the prompt's string backwards (reward: the share of "
            "characters in the right place). `add`: write the sum of two numbers (reward: the "
            "share of the answer's digits right)."
        ),
    ] = "reverse"
    length: Annotated[int, Field(ge=1, le=12, description="`reverse`: characters per string.")] = 3
    alphabet: Annotated[
        str,
        Field(
            min_length=2,
            max_length=36,
            pattern=r"^[0-9a-z]+$",
            description="`reverse`: the characters strings are drawn from (digits and lowercase letters).",
        ),
    ] = "0123456789"
    max_operand: Annotated[int, Field(ge=1, le=9999, description="`add`: operands are drawn from 0..max_operand.")] = 9
    prompts_per_step: Annotated[int, Field(ge=1, le=65536, description="Distinct prompts per training step.")] = 32
    group_size: Annotated[
        int,
        Field(ge=1, le=256, description="Completions sampled per prompt; GRPO compares each completion with its group's mean."),
    ] = 8


class AlgorithmConfig(RuntimeModel):
    """The policy-gradient update."""

    name: Annotated[
        Literal["grpo", "reinforce"],
        Field(
            description="`grpo`: advantage = reward minus the mean of the prompt's group (divided by "
            "the group's std when `normalize_advantages`). `reinforce`: reward minus the batch mean."
        ),
    ] = "grpo"
    learning_rate: Annotated[float, Field(gt=0, le=1, description="AdamW learning rate.")] = 3e-3
    weight_decay: Annotated[float, Field(ge=0, le=1, description="AdamW weight decay.")] = 0.0
    clip_epsilon: Annotated[
        float,
        Field(gt=0, le=10, description="PPO-style clip on the ratio between learner and sampler probabilities."),
    ] = 0.2
    normalize_advantages: Annotated[bool, Field(description="Divide advantages by the group's (or batch's) std.")] = True
    max_grad_norm: Annotated[float, Field(gt=0, description="Gradient clipping norm.")] = 1.0
    temperature: Annotated[float, Field(gt=0, le=10, description="Sampling temperature on the samplers.")] = 1.0


class TinyModelConfig(RuntimeModel):
    """Shape of the built-in `tiny` model (a small causal transformer built locally, no hub)."""

    d_model: Annotated[int, Field(ge=8, le=8192, description="Hidden size.")] = 64
    n_layers: Annotated[int, Field(ge=1, le=96, description="Transformer blocks.")] = 2
    n_heads: Annotated[int, Field(ge=1, le=128, description="Attention heads; must divide d_model.")] = 4
    max_seq_len: Annotated[int, Field(ge=8, le=8192, description="Longest prompt + completion, in tokens.")] = 32

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        return self


class RayRuntimeConfig(RuntimeModel):
    """One RL run: model, task, algorithm, layout on the cluster, checkpoints, telemetry."""

    run_name: Annotated[
        str,
        Field(description="Name of the run: TensorBoard/W&B run name and Ray Train run name. [A-Za-z0-9_.-], up to 64."),
    ] = "rl-run"
    model: Annotated[
        str,
        Field(
            description="Model alias from the registry: `tiny` (built locally), or a hub model such as `qwen3-0.5b`, `qwen3-moe-a14b`, `llama3-8b` (needs the Hugging Face extra)."
        ),
    ] = "tiny"
    tiny: Annotated[TinyModelConfig, Field(description="Shape of the `tiny` model (ignored for hub models).")] = TinyModelConfig()
    device: Annotated[
        Device,
        Field(
            description="Where tensors live. `auto`: CUDA when the process can see a CUDA device, else CPU, "
            "so simulated GPUs (Ray GPU resources with no device behind them) still compute on CPU."
        ),
    ] = "auto"
    seed: Annotated[int, Field(ge=0, description="Seed for model init, prompts and sampling.")] = 0
    max_steps: Annotated[
        int, Field(ge=1, description="Training steps (one batch of rollouts each) to reach; a resumed run continues to this step.")
    ] = 40

    # ----- layout
    learner_mode: Annotated[
        LearnerMode,
        Field(description="`single`: one learner process. `ddp`/`fsdp`: Ray Train ranks with DistributedDataParallel / FSDP2."),
    ] = "single"
    learner_num_gpus: Annotated[
        int,
        Field(ge=0, le=1024, description="GPUs reserved for the learner, over all its ranks (0: CPU only)."),
    ] = 0
    learner_num_cpus: Annotated[float, Field(gt=0, le=1024, description="CPUs reserved for the learner, over all its ranks.")] = 1.0
    learner_num_workers: Annotated[
        int | None,
        Field(ge=1, le=1024, description="Learner ranks for `ddp`/`fsdp` (default: one per learner GPU, or 2 on CPU). Always 1 for `single`."),
    ] = None
    learner_num_nodes: Annotated[
        int,
        Field(ge=1, le=128, description="Nodes the learner spans: one placement-group bundle per node, ranks split evenly."),
    ] = 1
    sampler_num_gpus: Annotated[float, Field(ge=0, le=64, description="GPUs reserved per sampler actor (0: CPU only).")] = 0.0
    sampler_num_cpus: Annotated[float, Field(gt=0, le=1024, description="CPUs reserved per sampler actor.")] = 1.0
    num_sampler_actors: Annotated[int, Field(ge=1, le=1024, description="Sampler actors; each gets its own placement-group bundle.")] = 2
    placement_strategy: Annotated[
        PlacementStrategy,
        Field(
            description="Strategy of the run's one placement group. Learner ranks on a node share one bundle, so they "
            "are packed whatever this says; SPREAD (default) spreads the sampler bundles over nodes."
        ),
    ] = "SPREAD"
    placement_timeout_s: Annotated[
        float,
        Field(gt=0, description="How long to wait for the placement group (the autoscaler may be adding nodes) before failing with what is missing."),
    ] = 300.0
    sampler_max_restarts: Annotated[int, Field(ge=0, description="Times Ray restarts a dead sampler actor; the learner re-sends weights to it.")] = 2
    learner_max_failures: Annotated[
        int,
        Field(ge=0, description="Ray Train FailureConfig.max_failures: learner restarts, each resuming from the newest checkpoint."),
    ] = 1

    # ----- verification
    verify_batch_size: Annotated[
        int, Field(ge=1, description="Rollouts checked per verification task (tasks are batched to amortise scheduling).")
    ] = 64
    verify_num_cpus: Annotated[float, Field(gt=0, le=64, description="CPUs per verification task.")] = 0.5

    # ----- checkpoints
    checkpoint_uri: Annotated[
        str | None,
        Field(
            description="Where checkpoints go: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://account/container/prefix` "
            "or `file:///abs/path` (the schemes of rlcloud_contract/storage_uri.py); run R keeps its own under "
            "<checkpoint_uri>/R, so runs sharing a cluster's URI never mix and resubmitting R resumes it. Default: "
            "$RLCLOUD_CHECKPOINT_URI (set by `rlcloud submit`); unset means no checkpoints and no resume."
        ),
    ] = None
    checkpoint_every: Annotated[int, Field(ge=1, description="Save every N steps (and always at the last step).")] = 10
    keep_checkpoints: Annotated[int, Field(ge=1, description="Complete checkpoints to keep; the one a run resumed from is never deleted.")] = 3
    checkpoint_part_mb: Annotated[
        int, Field(ge=5, le=5120, description="Size of the objects a checkpoint file is split into (transferred in parallel).")
    ] = 16
    checkpoint_threads: Annotated[int, Field(ge=1, le=64, description="Parallel transfers when saving or loading a checkpoint.")] = 8

    # ----- telemetry
    tensorboard_logdir: Annotated[
        str | None,
        Field(description="Directory for TensorBoard event files, on the node running the job driver (`~` expands). Unset: no TensorBoard."),
    ] = None
    wandb_project: Annotated[
        str | None, Field(description="W&B project; when set and wandb is installed, logs offline (sync later with `wandb sync`).")
    ] = None
    wandb_run_name: Annotated[str | None, Field(description="W&B run name (default: run_name).")] = None
    wandb_entity: Annotated[str | None, Field(description="W&B entity (team or user).")] = None

    # ----- what and how to learn
    task: Annotated[TaskConfig, Field(description="The verifiable task.")] = TaskConfig()
    algorithm: Annotated[AlgorithmConfig, Field(description="The policy-gradient update.")] = AlgorithmConfig()

    @field_validator("run_name")
    @classmethod
    def _run_name(cls, value: str) -> str:
        if not RUN_NAME_RE.match(value):
            raise ValueError(f"use 1-64 of [A-Za-z0-9_.-], starting with a letter or digit; got {value!r}")
        return value

    @field_validator("checkpoint_uri")
    @classmethod
    def _checkpoint_uri(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parse_uri(value)  # ValueError: what was expected, the same words as the cluster spec's
        return value.rstrip("/")

    @model_validator(mode="after")
    def _layout(self) -> RayRuntimeConfig:
        ranks = self.learner_ranks
        if self.learner_mode == "single" and self.learner_num_workers not in (None, 1):
            raise ValueError("learner_num_workers: `single` mode runs exactly 1 learner rank; use learner_mode ddp or fsdp for more")
        if ranks % self.learner_num_nodes:
            raise ValueError(f"learner ranks ({ranks}) must split evenly over learner_num_nodes ({self.learner_num_nodes})")
        if self.learner_num_gpus % self.learner_num_nodes:
            raise ValueError(f"learner_num_gpus ({self.learner_num_gpus}) must split evenly over learner_num_nodes ({self.learner_num_nodes})")
        if self.learner_mode != "single" and self.learner_num_gpus and self.learner_num_gpus % ranks:
            raise ValueError(f"learner_num_gpus ({self.learner_num_gpus}) must split evenly over the {ranks} learner ranks")
        if self.device == "cuda" and (self.learner_num_gpus == 0 or self.sampler_num_gpus == 0):
            raise ValueError("device: `cuda` needs learner_num_gpus and sampler_num_gpus > 0 (Ray assigns GPUs only to what reserves them)")
        longest = self.longest_sequence
        if self.model == "tiny" and longest > self.tiny.max_seq_len:
            raise ValueError(f"tiny.max_seq_len ({self.tiny.max_seq_len}) is shorter than the task's prompt + answer ({longest} tokens)")
        return self

    # ----- derived values (one place, so the driver, learner and tests agree)

    @property
    def learner_ranks(self) -> int:
        """Ray Train workers for the learner."""
        if self.learner_mode == "single":
            return 1
        if self.learner_num_workers is not None:
            return self.learner_num_workers
        return self.learner_num_gpus or 2

    @property
    def longest_sequence(self) -> int:
        """Tokens in the longest prompt + answer the task can produce."""
        from runtime.tasks import task_for

        return task_for(self.task).longest_sequence

    @property
    def run_checkpoint_uri(self) -> str | None:
        """This run's checkpoint folder: <checkpoint_uri>/<run_name>."""
        return f"{self.checkpoint_uri}/{self.run_name}" if self.checkpoint_uri else None

    @property
    def rollouts_per_step(self) -> int:
        return self.task.prompts_per_step * self.task.group_size
