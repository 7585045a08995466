"""The step line a person reads, TensorBoard files read back, and import cost for the
provisioner (which may import `runtime` and must not pay for torch or ray)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config import RayRuntimeConfig
from runtime.telemetry.sinks import TelemetrySink
from runtime.telemetry.step_line import human_rate, step_line
from tests.runtime.conftest import REPO

RECORD = {
    "event": "step",
    "step": 12,
    "max_steps": 40,
    "time": 1_700_000_000.0,
    "reward_mean": 0.43,
    "reward_first": 0.22,
    "loss": 0.0123,
    "entropy": 1.85,
    "learner_tokens_per_s": 1234.0,
    "sampler_tokens_per_s": 3456.0,
    "sampler_rollouts_per_s": 800.0,
    "verify_tasks_per_s": 52.0,
    "sync_seconds": 0.012,
    "checkpoint_seconds": 0.21,
    "checkpoint_mb_per_s": 35.0,
}


def test_step_line_reads_like_the_spec() -> None:
    assert step_line(RECORD) == (
        "step 12/40 reward 0.43 (+0.21 since start) loss 0.012 entropy 1.85 learner 1.2k tok/s "
        "samplers 3.5k tok/s verify 52 tasks/s sync 0.01s ckpt 0.21s 35 MB/s"
    )
    assert (human_rate(950), human_rate(2.5e6), human_rate(3.0)) == ("950", "2.5M", "3.0")


def test_tensorboard_events_and_console(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = io.StringIO()
    sink = TelemetrySink(RayRuntimeConfig(tensorboard_logdir=str(tmp_path / "tb")), out)
    sink.handle({"event": "resumed", "step": 10, "checkpoint": "s3://b/run/manifests/x.json", "mb": 1.5, "seconds": 0.2})
    sink.handle(RECORD)
    sink.handle({**RECORD, "step": 13, "reward_mean": 0.5})
    sink.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "resumed from step 10 (s3://b/run/manifests/x.json, 1.5 MB in 0.20s)"
    assert lines[1].startswith("step 12/40 reward 0.43") and lines[2].startswith("step 13/40 reward 0.50")
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, round(e.value, 2)) for e in events.Scalars("reward/mean")] == [(12, 0.43), (13, 0.5)]
    assert {"sampler/rollouts_per_s", "verify/tasks_per_s", "weight_sync/seconds", "checkpoint/mb_per_s"} <= set(events.Tags()["scalars"])


def test_wandb_requested_without_wandb_installed_falls_back_to_tensorboard(tmp_path: Path) -> None:
    try:
        import wandb  # noqa: F401

        pytest.skip("wandb is installed here; this checks the fallback when it is not")
    except ImportError:
        pass
    sink = TelemetrySink(RayRuntimeConfig(wandb_project="p", tensorboard_logdir=str(tmp_path)), io.StringIO())
    assert sink.wandb is None and sink.tb is not None
    sink.close()


def test_importing_the_package_and_its_config_costs_no_torch_or_ray() -> None:
    code = "import sys, runtime, runtime.config, runtime.config_load; print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
