"""Where the learner's records go on the driver: the console, TensorBoard, and W&B.

TensorBoard is on whenever `tensorboard_logdir` is set. W&B is on when `wandb_project` is set
and wandb is installed; it runs offline (clusters often have no outbound access; `wandb sync`
uploads later). GPU utilisation is logged when the learner has a CUDA device.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from runtime.config import RayRuntimeConfig
from runtime.telemetry.step_line import step_line

log = logging.getLogger(__name__)

#: record key -> TensorBoard tag
SCALARS = {
    "reward_mean": "reward/mean",
    "reward_std": "reward/std",
    "loss": "loss/policy",
    "entropy": "learner/entropy",
    "grad_norm": "learner/grad_norm",
    "clip_fraction": "learner/clip_fraction",
    "learner_tokens_per_s": "learner/tokens_per_s",
    "sampler_rollouts_per_s": "sampler/rollouts_per_s",
    "sampler_tokens_per_s": "sampler/tokens_per_s",
    "verify_tasks_per_s": "verify/tasks_per_s",
    "verify_rollouts_per_s": "verify/rollouts_per_s",
    "sync_seconds": "weight_sync/seconds",
    "checkpoint_seconds": "checkpoint/seconds",
    "checkpoint_mb_per_s": "checkpoint/mb_per_s",
    "step_seconds": "time/step_seconds",
    "learner_gpu_utilization": "gpu/learner_utilization",
}


class TelemetrySink:
    def __init__(self, config: RayRuntimeConfig, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tb: Any = None
        self.wandb: Any = None
        self.logdir: Path | None = None
        if config.tensorboard_logdir:
            from torch.utils.tensorboard import SummaryWriter

            self.logdir = Path(config.tensorboard_logdir).expanduser()
            self.tb = SummaryWriter(log_dir=str(self.logdir), flush_secs=10)
        if config.wandb_project:
            self.wandb = _start_wandb(config)

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def handle(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        if event == "step":
            self.say(step_line(record))
            scalars = {tag: float(record[key]) for key, tag in SCALARS.items() if key in record}
            if self.tb is not None:
                for tag, value in scalars.items():
                    self.tb.add_scalar(tag, value, global_step=record["step"], walltime=record.get("time"))
            if self.wandb is not None:
                self.wandb.log(scalars, step=record["step"])
        elif event == "resumed":
            self.say(f"resumed from step {record['step']} ({record['checkpoint']}, {record['mb']:.1f} MB in {record['seconds']:.2f}s)")
        elif event == "started":
            self.say(f"learner: {record['world_size']} rank(s), {record['mode']}, on {record['device']}, starting at step {record['step']}")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _start_wandb(config: RayRuntimeConfig) -> Any:
    try:
        import wandb
    except ImportError:
        log.warning("wandb_project is set but wandb is not installed; logging to TensorBoard only")
        return None
    return wandb.init(
        project=config.wandb_project,
        name=config.wandb_run_name or config.run_name,
        entity=config.wandb_entity,
        mode="offline",
        config=config.model_dump(),
    )
