"""`RayRuntime`: the job driver. It reserves the run's placement group, starts the samplers
and the telemetry channel, runs the learner through Ray Train, and relays what the learner
reports to the console, TensorBoard and W&B.

    with RayRuntime(config) as rt:
        summary = rt.train()
        rt.export_for_hf("out/policy")
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from runtime.checkpoint.state import LearnerState, state_from_files, state_to_files
from runtime.checkpoint.store import CheckpointRef, CheckpointStore
from runtime.config import RayRuntimeConfig
from runtime.distributed.virtual_cluster import RayVirtualCluster
from runtime.distributed.worker_group import RayWorkerGroup
from runtime.errors import RlcloudError
from runtime.telemetry.sinks import TelemetrySink

POLL_S = 0.2


@dataclass
class RunSummary:
    steps: int  # the step the run ended at
    first_reward: float | None
    last_reward: float | None
    resumed_from_step: int | None
    seconds: float
    records: list[dict[str, Any]] = field(default_factory=list)


class RayRuntime:
    def __init__(self, config: RayRuntimeConfig, *, out: TextIO | None = None) -> None:
        self.config = config
        self.sink = TelemetrySink(config, out)
        self.cluster: RayVirtualCluster | None = None
        self.samplers: RayWorkerGroup | None = None
        self.channel: Any = None
        self.backend = "gloo"
        self._final_files: dict[str, bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def preflight(self) -> None:
        """Fail before reserving anything if the model or the checkpoint storage is unusable."""
        from runtime.models.registry import check_model_available

        check_model_available(self.config.model)
        uri = self.config.run_checkpoint_uri
        if uri:
            newest = CheckpointStore(uri).latest()  # StorageError: no bucket, no access, ...
            where = f"newest complete: step {newest.step}" if newest else "none yet"
            self.sink.say(f"checkpoints: {uri} ({where})")

    def start(self) -> None:
        """Check, join or start Ray, reserve the placement group (waiting for the autoscaler if
        needed), start the samplers."""
        import ray

        from runtime.learner.placement import check_ray_train_supported
        from runtime.learner.trainer import learner_has_cuda, torch_backend
        from runtime.sampler import start_samplers
        from runtime.telemetry.channel import start_channel

        self.preflight()
        if not ray.is_initialized():
            init_ray(self.config)
        check_ray_train_supported()
        cfg = self.config
        self.cluster = RayVirtualCluster.for_run(cfg, name=f"rlcloud-{cfg.run_name}-{uuid.uuid4().hex[:6]}")
        asked = ", ".join(f"{b.role} {b.resources}" for b in self.cluster.bundles)
        self.sink.say(f"placement group ({cfg.placement_strategy}): {asked}")
        waited = self.cluster.wait(cfg.placement_timeout_s)
        self.sink.say(f"placement group ready in {waited:.1f}s")
        probe = learner_has_cuda(cfg, self.cluster) if cfg.device == "auto" and cfg.learner_num_gpus else None
        self.samplers = start_samplers(self.cluster, cfg)
        self.channel = start_channel()
        described = self.samplers.run_all_workers_single_data("describe")
        devices = sorted({d["device"] for d in described})
        self.sink.say(f"{len(described)} sampler(s) up on {', '.join(devices)} ({sum(len(d['gpu_ids']) for d in described)} GPU(s) reserved)")
        self.backend = torch_backend(cfg, bool(ray.get(probe)) if probe is not None else False)

    def train(self) -> RunSummary:
        """Run the learner to `max_steps` (resuming from the newest checkpoint), relaying telemetry."""
        from runtime.learner.trainer import build_trainer

        if self.cluster is None:
            self.start()
        assert self.cluster is not None and self.samplers is not None
        trainer = build_trainer(self.config, self.cluster, self.samplers, self.channel, backend=self.backend)
        start = time.monotonic()
        outcome: dict[str, Any] = {}

        def fit() -> None:
            try:
                outcome["result"] = trainer.fit()
            except BaseException as exc:  # surfaced on the driver thread below
                outcome["error"] = exc

        thread = threading.Thread(target=fit, name="ray-train-fit", daemon=True)
        thread.start()
        records: list[dict[str, Any]] = []
        while thread.is_alive():
            thread.join(POLL_S)
            records.extend(self._relay())
        records.extend(self._relay())
        if "error" in outcome:
            raise _training_failed(outcome["error"]) from None
        import ray

        self._final_files = ray.get(self.channel.final_state.remote())
        steps = [r for r in records if r.get("event") == "step"]
        resumed = [r for r in records if r.get("event") == "resumed"]
        return RunSummary(
            steps=steps[-1]["step"] if steps else (resumed[-1]["step"] if resumed else 0),
            first_reward=steps[-1]["reward_first"] if steps else None,
            last_reward=steps[-1]["reward_mean"] if steps else None,
            resumed_from_step=resumed[0]["step"] if resumed else None,
            seconds=time.monotonic() - start,
            records=records,
        )

    def _relay(self) -> list[dict[str, Any]]:
        import ray

        records = ray.get(self.channel.drain.remote())
        for record in records:
            self.sink.handle(record)
        return records

    def shutdown(self) -> None:
        if self.samplers is not None:
            self.samplers.shutdown()
            self.samplers = None
        if self.channel is not None:
            import ray

            ray.kill(self.channel)
            self.channel = None
        if self.cluster is not None:
            self.cluster.shutdown()
            self.cluster = None
        self.sink.close()

    def __enter__(self) -> RayRuntime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ state (seed 000)

    def get_state(self) -> LearnerState:
        """The learner's state at the end of `train()` (model, optimizer, RNG, step), on the driver."""
        if self._final_files is None:
            raise RlcloudError("no learner state yet: call train() first")
        return state_from_files(self._final_files)

    def save_state(self, uri: str) -> CheckpointRef:
        """Write the learner's final state as a complete checkpoint under `uri` (any scheme of rlcloud_contract/storage_uri.py)."""
        state = self.get_state()
        store = CheckpointStore(uri, part_mb=self.config.checkpoint_part_mb, threads=self.config.checkpoint_threads)
        ref, _ = store.save(state.step, state_to_files(state), meta={"run_name": self.config.run_name, "saved_by": "save_state"})
        return ref

    def export_for_hf(self, path: str | Path) -> Path:
        """A Hugging Face-style folder: config.json, model.safetensors, tokenizer files."""
        from runtime.models.export import export_for_hf
        from runtime.models.registry import build_policy

        return export_for_hf(build_policy(self.config), self.get_state().model, path)


def init_ray(config: RayRuntimeConfig) -> None:
    """Join the cluster in RAY_ADDRESS (Ray Jobs set it); with none, start a local Ray sized
    for this config, with simulated GPUs if it asks for GPUs.

    Never silently joins some other Ray instance found on the machine: by hand, point
    RAY_ADDRESS at the cluster you mean (or use `rlcloud submit`)."""
    import os

    import ray

    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return
    cpus = config.learner_num_cpus + config.num_sampler_actors * config.sampler_num_cpus + config.verify_num_cpus
    gpus = config.learner_num_gpus + config.num_sampler_actors * config.sampler_num_gpus
    # A node has whole GPUs; fractional requests share them.
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, int(cpus) + 1), num_gpus=math.ceil(gpus))


ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): .+")


def _training_failed(exc: BaseException) -> RlcloudError:
    """One line a person can act on: the root cause from the learner's traceback if present."""
    if isinstance(exc, RlcloudError):
        return exc
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line for line in lines if ERROR_LINE.match(line)]
    summary = causes[-1] if causes else (lines[0] if lines else type(exc).__name__)
    return RlcloudError(f"training failed: {summary}", hint="the learner's full traceback is in the job log above")
