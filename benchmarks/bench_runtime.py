"""Runtime benchmarks: checkpoint save/restore vs plain boto3, and weight sync vs sampler count.

    .venv/bin/python benchmarks/bench_runtime.py [--state-mb 300] [--quick]

1. Checkpoints. A real learner state (a TinyCausalLM sized so model + AdamW state is about
   `--state-mb`) is saved to and restored from a moto server on 127.0.0.1 (its own process)
   through `CheckpointStore`, and the same bytes are moved by plain boto3 managed transfers
   (`upload_fileobj` / `download_fileobj`, multipart): with boto3's default TransferConfig
   and with one matched to ours (same part size and threads). Ratios are ours / baseline
   throughput against the faster baseline, measured in the same run; target >= 0.9.
2. Weight sync. `WeightPublisher.publish` (one ray.put, every sampler gets the ref) to 1, 2,
   4 and 6 real sampler actors; median seconds per version; target t(6) <= 1.5 x t(1).

Each measurement is repeated and the median kept (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import interleaved_medians  # noqa: E402

MB = 1024 * 1024


# ---------------------------------------------------------------------------- moto server


class MotoProcess:
    """tests.support's moto server, in a process of its own so it does not share our GIL."""

    def __init__(self) -> None:
        code = (
            "import sys, time\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from tests.support.moto_server import start_moto_server\n"
            "server = start_moto_server()\n"
            "print(server.endpoint, flush=True)\n"
            "time.sleep(1e9)\n"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        if not self.endpoint.startswith("http"):
            raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def learner_state_files(target_mb: int) -> dict[str, bytes]:
    """Checkpoint files of a real learner state of about `target_mb` (weights + AdamW)."""
    import torch

    from runtime.checkpoint.state import LearnerState, state_to_files
    from runtime.learner.parallel import full_model_state, full_optimizer_state
    from runtime.models.tiny import TinyCausalLM

    # Adam keeps two moments per weight: the state is ~3x the weights (12 bytes/param).
    d_model = 512
    layers = max(1, round(target_mb * MB / 12 / (12 * d_model * d_model)))
    model = TinyCausalLM(vocab_size=40, d_model=d_model, n_layers=layers, n_heads=8, max_seq_len=64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    optimizer.step()
    state = LearnerState(step=1, model=full_model_state(model), optimizer=full_optimizer_state(model, optimizer), rng={"torch": torch.get_rng_state()})
    return state_to_files(state)


def bench_checkpoints(state_mb: int, repeats: int) -> dict[str, Any]:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    from runtime.checkpoint.store import CheckpointStore
    from tests.support.moto_server import FAKE_CREDENTIALS

    files = learner_state_files(state_mb)
    total = sum(len(v) for v in files.values())
    server = MotoProcess()
    # The SDK (ours and the baselines') talks to moto with fake credentials, for this block only.
    environment = mock.patch.dict(os.environ, {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": server.endpoint})
    environment.start()
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3", config=Config(max_pool_connections=32))
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": FAKE_CREDENTIALS["AWS_DEFAULT_REGION"]})
        store = CheckpointStore(f"s3://{bucket}/ours")
        baselines = {
            "boto3 default": TransferConfig(),
            "boto3 matched": TransferConfig(multipart_chunksize=store.part_bytes, max_concurrency=store.threads),
        }
        refs: list[Any] = []

        def ours_save() -> None:
            refs.append(store.save(len(refs), files)[0])

        def ours_load() -> None:
            store.load(refs[-1])

        ours_save()  # something to restore from the first round on
        results: dict[str, dict[str, float]] = {}
        for name, config in baselines.items():
            prefix = name.replace(" ", "-")

            def upload(config: Any = config, prefix: str = prefix) -> None:
                for file_name, data in files.items():
                    client.upload_fileobj(io.BytesIO(data), bucket, f"{prefix}/{file_name}", Config=config)

            def download(config: Any = config, prefix: str = prefix) -> None:
                for file_name in files:
                    client.download_fileobj(bucket, f"{prefix}/{file_name}", io.BytesIO(), Config=config)

            # Ours and this baseline take turns, so drift on the shared machine hits both.
            ours_up, base_up = interleaved_medians(ours_save, upload, repeats)
            ours_down, base_down = interleaved_medians(ours_load, download, repeats)
            results[name] = {"save_s": base_up, "restore_s": base_down}
            results[f"ours (vs {name})"] = {"save_s": ours_up, "restore_s": ours_down}
    finally:
        environment.stop()
        server.stop()

    def ratio(op: str) -> float:
        """Ours / baseline throughput against the faster baseline, each pair from its own turns."""
        best = min(baselines, key=lambda name: results[name][op])
        return round(results[best][op] / results[f"ours (vs {best})"][op], 2)

    return {
        "state_mb": round(total / MB, 1),
        "files": {k: round(len(v) / MB, 1) for k, v in files.items()},
        "seconds": results,
        "mb_per_s": {k: {op: round(total / MB / s, 1) for op, s in v.items()} for k, v in results.items()},
        "save_ratio": ratio("save_s"),
        "restore_ratio": ratio("restore_s"),
        "target_ratio": 0.9,
    }


# ---------------------------------------------------------------------------- weight sync


def bench_weight_sync(counts: list[int], model_dims: dict[str, int], repeats: int) -> dict[str, Any]:
    """Median seconds per published version for each sampler count. Every group is up for
    the whole benchmark and the counts take turns, round by round, so drift on a noisy
    machine (page cache, other jobs) lands on all of them alike."""
    import ray

    from runtime.config import RayRuntimeConfig
    from runtime.distributed.virtual_cluster import RayVirtualCluster
    from runtime.models.registry import build_policy
    from runtime.sampler import start_samplers
    from runtime.weight_sync import WeightPublisher

    started_ray = not ray.is_initialized()
    if started_ray:
        # Logical CPUs: every sampler reserves one, as on a cluster; they share the real cores.
        ray.init(address="local", num_cpus=sum(counts) + len(counts) + 1, include_dashboard=False, log_to_driver=False)
    groups: dict[int, tuple[Any, Any, Any]] = {}
    times: dict[int, list[float]] = {count: [] for count in counts}
    fanout: dict[int, list[float]] = {count: [] for count in counts}
    nbytes = 0
    try:
        for count in counts:
            config = RayRuntimeConfig(num_sampler_actors=count, tiny=model_dims, learner_num_cpus=1)
            cluster = RayVirtualCluster.for_run(config, name=f"bench-sync-{count}")
            cluster.wait(300)
            group = start_samplers(cluster, config)
            groups[count] = (cluster, group, WeightPublisher(group))
        state = build_policy(RayRuntimeConfig(tiny=model_dims)).module.state_dict()
        for count, (_, _, publisher) in groups.items():
            for version in range(2):  # warm-up: actors up, code paths and buffers touched
                publisher.publish(state, version=version)
        version = 2
        for _ in range(repeats):
            for count, (_, _, publisher) in groups.items():
                stats = publisher.publish(state, version=version)
                times[count].append(stats.seconds)
                fanout[count].append(stats.seconds - stats.put_seconds)
                nbytes = stats.nbytes
                version += 1
    finally:
        for cluster, group, _ in groups.values():
            group.shutdown()
            cluster.shutdown()
        if started_ray:
            ray.shutdown()
    seconds = {count: statistics.median(values) for count, values in times.items()}
    one = seconds[min(counts)]
    return {
        "weights_mb": round(nbytes / MB, 1),
        "seconds": {str(k): round(v, 4) for k, v in seconds.items()},
        # After the one ray.put: the samplers taking the ref and loading it.
        "fanout_seconds": {str(k): round(statistics.median(v), 4) for k, v in fanout.items()},
        "ratio_vs_1": {str(k): round(v / one, 2) for k, v in seconds.items()},
        "ratio_6_to_1": round(seconds[max(counts)] / one, 2),
        "target_ratio": 1.5,
    }


# ---------------------------------------------------------------------------- report


def print_report(results: dict[str, Any]) -> None:
    ck = results["checkpoint"]
    print(f"\ncheckpoint: learner state {ck['state_mb']} MB ({ck['files']}) to moto server on 127.0.0.1")
    print(f"  {'':26} {'save MB/s':>10} {'restore MB/s':>13}")
    for name, rates in ck["mb_per_s"].items():
        print(f"  {name:26} {rates['save_s']:>10} {rates['restore_s']:>13}")
    print(f"  ours / best boto3: save {ck['save_ratio']}x, restore {ck['restore_ratio']}x (target >= {ck['target_ratio']})")
    for label, ws in results["weight_sync"].items():
        print(f"\nweight sync ({label}, {ws['weights_mb']} MB per version, one ray.put, all samplers load it)")
        print(f"  {'samplers':>8} {'seconds':>9} {'vs 1':>6} {'of which fan-out':>17}")
        for count, secs in ws["seconds"].items():
            print(f"  {count:>8} {secs:>9.4f} {ws['ratio_vs_1'][count]:>6} {ws['fanout_seconds'][count]:>17.4f}")
        print(f"  6 samplers / 1 sampler: {ws['ratio_6_to_1']}x (target <= {ws['target_ratio']})")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-mb", type=int, default=300, help="checkpoint state size (default 300)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    args = parser.parse_args(argv if argv is not None else [])
    repeats = 2 if args.quick else 3
    results: dict[str, Any] = {"checkpoint": bench_checkpoints(40 if args.quick else args.state_mb, repeats)}
    sync_repeats = 3 if args.quick else 30
    results["weight_sync"] = {
        # ~100 MB of weights: the object store path dominates.
        "25M-param model": bench_weight_sync([1, 2, 4, 6], {"d_model": 512, "n_layers": 8, "n_heads": 8}, sync_repeats),
        # The demo's model: per-call overhead dominates.
        "demo tiny model": bench_weight_sync([1, 2, 4, 6], {}, sync_repeats),
    }
    print_report(results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
