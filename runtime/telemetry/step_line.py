"""The one line per step a person follows, e.g.

step 12/40 reward 0.43 (+0.21 since start) loss 0.012 entropy 1.85 learner 1.2k tok/s samplers 3.4k tok/s verify 52 tasks/s sync 0.01s ckpt 0.21s 35 MB/s
"""

from __future__ import annotations

from typing import Any


def human_rate(value: float) -> str:
    """1234 -> '1.2k', 1_500_000 -> '1.5M'."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"


def step_line(record: dict[str, Any]) -> str:
    gain = record["reward_mean"] - record["reward_first"]
    parts = [
        f"step {record['step']}/{record['max_steps']}",
        f"reward {record['reward_mean']:.2f} ({gain:+.2f} since start)",
        f"loss {record['loss']:.3f} entropy {record['entropy']:.2f}",
        f"learner {human_rate(record['learner_tokens_per_s'])} tok/s",
        f"samplers {human_rate(record['sampler_tokens_per_s'])} tok/s",
        f"verify {human_rate(record['verify_tasks_per_s'])} tasks/s",
    ]
    if "sync_seconds" in record:
        parts.append(f"sync {record['sync_seconds']:.2f}s")
    if "checkpoint_seconds" in record:
        parts.append(f"ckpt {record['checkpoint_seconds']:.2f}s {human_rate(record['checkpoint_mb_per_s'])} MB/s")
    if "learner_gpu_utilization" in record:
        parts.append(f"gpu {record['learner_gpu_utilization']:.0f}%")
    if record.get("sampler_retries"):
        parts.append(f"({record['sampler_retries']} sampler retries)")
    return " ".join(parts)
