"""Runtime benchmarks: checkpoint save/restore vs each cloud SDK's best plain transfer, and
weight sync vs sampler count.

    .venv/bin/python benchmarks/bench_runtime.py [--state-mb 300] [--quick]
        [--storage s3,gs,az] [--skip-weight-sync]

1. Checkpoints. A real learner state (a TinyCausalLM sized so model + AdamW state is about
   `--state-mb`) is saved and restored through `CheckpointStore`, and the same bytes are moved
   by the SDK's own plain transfers, each against a test double in its own process (so it
   does not share our GIL) on 127.0.0.1:
   - s3://, moto server: boto3 managed transfers (`upload_fileobj` / `download_fileobj`,
     multipart) with the default TransferConfig and with one matched to ours (part size,
     threads);
   - gs://, the fake Cloud Storage JSON API (emulator mode): `upload_from_file` (resumable,
     the SDK's 100 MiB chunks, or the whole file as one chunk) and `download_as_bytes` or
     `transfer_manager.download_chunks_concurrently` (threads, our part size);
   - az://, the fake Blob service over HTTPS, signed in through the fake IMDS:
     `upload_blob` / `download_blob` with `max_concurrency` = our threads, with the SDK's
     default block / range sizes and with ours.
   Ratios are ours / baseline throughput against the faster baseline, each pair measured in
   alternating turns in the same run; target >= 0.9.
2. Weight sync. `WeightPublisher.publish` (one ray.put, every sampler gets the ref) to 1, 2,
   4 and 6 real sampler actors; median seconds per version; target t(6) <= 1.5 x t(1).

Each measurement is repeated and the median kept (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import interleaved_medians  # noqa: E402, RUF100

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


class ServiceProcess:
    """A test double started by `code` in a process of its own; its first line of output is a
    JSON object of environment variables pointing SDKs at it. It stops when its stdin closes."""

    def __init__(self, code: str) -> None:
        prelude = f"import json, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", prelude + code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.stop()
            raise RuntimeError("the test double did not start")
        self.env: dict[str, str] = json.loads(line)

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


FAKE_GCS = """
from tests.gcp.fake_gcp import FakeGcp
from tests.gcp.fake_gcp.storage import add_bucket
fake = FakeGcp().start()
add_bucket(fake.world, "bench")
print(json.dumps(fake.storage_env()), flush=True)
sys.stdin.read()
fake.stop()
"""

FAKE_BLOB = """
from tests.azure.fake_blob import FakeBlobService, FakeImds
service = FakeBlobService().start()
imds = FakeImds(service.world).start()
service.world.add_container("benchacct", "bench")
identity = service.world.add_identity(client_id="bench-client")
service.world.assign(identity.principal, "Storage Blob Data Contributor", "benchacct", "bench")
print(json.dumps({**service.env(), **imds.env(), "AZURE_CLIENT_ID": "bench-client"}), flush=True)
sys.stdin.read()
imds.stop()
service.stop()
"""


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
    state = LearnerState(
        step=1, model=full_model_state(model), optimizer=full_optimizer_state(model, optimizer), rng={"torch": torch.get_rng_state()}
    )
    return state_to_files(state)


Transfer = Callable[[], None]


def compare(files: dict[str, bytes], store: Any, baselines: dict[str, tuple[Transfer, Transfer]], repeats: int) -> dict[str, Any]:
    """Ours (`store`) against each (upload, download) baseline, in alternating turns."""
    total = sum(len(v) for v in files.values())
    refs: list[Any] = []

    def ours_save() -> None:
        refs.append(store.save(len(refs), files)[0])

    def ours_load() -> None:
        store.load(refs[-1])

    ours_save()  # something to restore from the first round on
    results: dict[str, dict[str, float]] = {}
    for name, (upload, download) in baselines.items():
        # Ours and this baseline take turns, so drift on the shared machine hits both.
        ours_up, base_up = interleaved_medians(ours_save, upload, repeats)
        ours_down, base_down = interleaved_medians(ours_load, download, repeats)
        results[name] = {"save_s": base_up, "restore_s": base_down}
        results[f"ours (vs {name})"] = {"save_s": ours_up, "restore_s": ours_down}

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


def bench_checkpoints(files: dict[str, bytes], repeats: int) -> dict[str, Any]:
    import boto3  # type: ignore[import-untyped]
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    from runtime.checkpoint.store import CheckpointStore
    from tests.support.moto_server import FAKE_CREDENTIALS

    server = MotoProcess()
    # The SDK (ours and the baselines') talks to moto with fake credentials, for this block only.
    environment = mock.patch.dict(os.environ, {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": server.endpoint})
    environment.start()
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3", config=Config(max_pool_connections=32))
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": FAKE_CREDENTIALS["AWS_DEFAULT_REGION"]})
        store = CheckpointStore(f"s3://{bucket}/ours")
        configs = {
            "boto3 default": TransferConfig(),
            "boto3 matched": TransferConfig(multipart_chunksize=store.part_bytes, max_concurrency=store.threads),
        }
        baselines: dict[str, tuple[Transfer, Transfer]] = {}
        for name, config in configs.items():
            prefix = name.replace(" ", "-")

            def upload(config: Any = config, prefix: str = prefix) -> None:
                for file_name, data in files.items():
                    client.upload_fileobj(io.BytesIO(data), bucket, f"{prefix}/{file_name}", Config=config)

            def download(config: Any = config, prefix: str = prefix) -> None:
                for file_name in files:
                    client.download_fileobj(bucket, f"{prefix}/{file_name}", io.BytesIO(), Config=config)

            baselines[name] = (upload, download)
        return {"target": "moto server", **compare(files, store, baselines, repeats)}
    finally:
        environment.stop()
        server.stop()


def bench_checkpoints_gcs(files: dict[str, bytes], repeats: int) -> dict[str, Any]:
    from runtime.checkpoint.store import CheckpointStore

    server = ServiceProcess(FAKE_GCS)
    environment = mock.patch.dict(os.environ, server.env)
    environment.start()
    scratch = tempfile.TemporaryDirectory(prefix="bench-gcs-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        from google.cloud import storage  # type: ignore[attr-defined, import-untyped]
        from google.cloud.storage import transfer_manager  # type: ignore[import-untyped]

        store = CheckpointStore("gs://bench/ours")
        client = storage.Client(project=None)
        bucket = client.bucket("bench")
        one_chunk = -(-max(len(v) for v in files.values()) // (256 * 1024)) * 256 * 1024

        def upload(prefix: str, chunk_size: int | None) -> None:
            for file_name, data in files.items():
                bucket.blob(f"{prefix}/{file_name}", chunk_size=chunk_size).upload_from_file(io.BytesIO(data), size=len(data))

        def download_plain() -> None:
            for file_name in files:
                bucket.blob(f"default/{file_name}").download_as_bytes()

        def download_threads() -> None:
            for file_name in files:
                transfer_manager.download_chunks_concurrently(
                    bucket.blob(f"one-chunk/{file_name}"),
                    os.path.join(scratch.name, file_name),
                    chunk_size=store.part_bytes,
                    worker_type=transfer_manager.THREAD,
                    max_workers=store.threads,
                )

        upload("default", None)
        upload("one-chunk", one_chunk)
        baselines: dict[str, tuple[Transfer, Transfer]] = {
            "gcs default (resumable, download_as_bytes)": (lambda: upload("default", None), download_plain),
            "gcs one chunk + transfer_manager": (lambda: upload("one-chunk", one_chunk), download_threads),
        }
        return {"target": "fake Cloud Storage JSON API", **compare(files, store, baselines, repeats)}
    finally:
        scratch.cleanup()
        environment.stop()
        server.stop()


def bench_checkpoints_azure(files: dict[str, bytes], repeats: int) -> dict[str, Any]:
    from runtime.checkpoint.store import CheckpointStore

    server = ServiceProcess(FAKE_BLOB)
    environment = mock.patch.dict(os.environ, server.env)
    environment.start()
    try:
        from azure.identity import DefaultAzureCredential
        from azure.storage.blob import ContainerClient

        from runtime.storage.azure_blob import account_url

        store = CheckpointStore("az://benchacct/bench/ours")
        credential = DefaultAzureCredential()
        part = store.part_bytes
        clients = {
            "blob default sizes": ContainerClient(account_url("benchacct"), "bench", credential=credential),
            "blob matched (our part size)": ContainerClient(
                account_url("benchacct"),
                "bench",
                credential=credential,
                max_single_put_size=part,
                max_block_size=part,
                max_single_get_size=part,
                max_chunk_get_size=part,
            ),
        }
        baselines: dict[str, tuple[Transfer, Transfer]] = {}
        for name, client in clients.items():
            prefix = name.split(" ")[1]

            def upload(client: Any = client, prefix: str = prefix) -> None:
                for file_name, data in files.items():
                    client.upload_blob(f"{prefix}/{file_name}", data, overwrite=True, max_concurrency=store.threads)

            def download(client: Any = client, prefix: str = prefix) -> None:
                for file_name in files:
                    client.download_blob(f"{prefix}/{file_name}", max_concurrency=store.threads).readall()

            baselines[name] = (upload, download)
        return {"target": "fake Blob service (HTTPS)", **compare(files, store, baselines, repeats)}
    finally:
        environment.stop()
        server.stop()


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
            config = RayRuntimeConfig(num_sampler_actors=count, tiny=model_dims, learner_num_cpus=1)  # type: ignore[arg-type]  # pydantic validates the dict
            cluster = RayVirtualCluster.for_run(config, name=f"bench-sync-{count}")
            cluster.wait(300)
            group = start_samplers(cluster, config)
            groups[count] = (cluster, group, WeightPublisher(group))
        state = build_policy(RayRuntimeConfig(tiny=model_dims)).module.state_dict()  # type: ignore[arg-type]
        for _, _, publisher in groups.values():
            for version in range(2):  # warm-up: actors up, code paths and buffers touched
                publisher.publish(state, version=version)
        version = 2
        for _ in range(repeats):
            for _, _, publisher in groups.values():
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


CHECKPOINT_RESULTS = {"checkpoint": "s3://", "checkpoint_gcs": "gs://", "checkpoint_azure": "az://"}


def print_report(results: dict[str, Any]) -> None:
    for key, scheme in CHECKPOINT_RESULTS.items():
        ck = results.get(key)
        if ck is None:
            continue
        print(f"\ncheckpoint {scheme}: learner state {ck['state_mb']} MB ({ck['files']}) to {ck['target']} on 127.0.0.1")
        width = max(len(name) for name in ck["mb_per_s"]) + 2
        print(f"  {'':{width}} {'save MB/s':>10} {'restore MB/s':>13}")
        for name, rates in ck["mb_per_s"].items():
            print(f"  {name:{width}} {rates['save_s']:>10} {rates['restore_s']:>13}")
        print(f"  ours / best plain SDK: save {ck['save_ratio']}x, restore {ck['restore_ratio']}x (target >= {ck['target_ratio']})")
    for label, ws in results.get("weight_sync", {}).items():
        print(f"\nweight sync ({label}, {ws['weights_mb']} MB per version, one ray.put, all samplers load it)")
        print(f"  {'samplers':>8} {'seconds':>9} {'vs 1':>6} {'of which fan-out':>17}")
        for count, secs in ws["seconds"].items():
            print(f"  {count:>8} {secs:>9.4f} {ws['ratio_vs_1'][count]:>6} {ws['fanout_seconds'][count]:>17.4f}")
        print(f"  6 samplers / 1 sampler: {ws['ratio_6_to_1']}x (target <= {ws['target_ratio']})")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-mb", type=int, default=300, help="checkpoint state size (default 300)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    parser.add_argument("--storage", default="s3,gs,az", help="checkpoint backends to measure, comma-separated (default s3,gs,az)")
    parser.add_argument("--skip-weight-sync", action="store_true", help="measure checkpoints only")
    args = parser.parse_args(argv if argv is not None else [])
    repeats = 2 if args.quick else 3
    files = learner_state_files(40 if args.quick else args.state_mb)
    benches = {
        "s3": ("checkpoint", bench_checkpoints),
        "gs": ("checkpoint_gcs", bench_checkpoints_gcs),
        "az": ("checkpoint_azure", bench_checkpoints_azure),
    }
    results: dict[str, Any] = {}
    for scheme in [s.strip() for s in args.storage.split(",") if s.strip()]:
        if scheme not in benches:
            parser.error(f"--storage: unknown backend {scheme!r}; choose from {', '.join(benches)}")
        key, bench = benches[scheme]
        results[key] = bench(files, repeats)
    if args.skip_weight_sync:
        print_report(results)
        return results
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
