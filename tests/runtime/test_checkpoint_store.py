"""The checkpoint store on real S3 wire protocol (moto server) and on local disk: atomic
commit by manifest, checksums, retention, and a real crash between data and manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.checkpoint.store import CheckpointStore
from runtime.errors import StorageError
from runtime.storage import open_storage
from tests.runtime import checkpoint_cases
from tests.runtime.conftest import REPO, job_env
from tests.support.moto_server import MotoServer


@pytest.fixture(params=["s3", "file"])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "s3":
        return request.getfixturevalue("s3_uri")
    return f"file://{tmp_path}/ckpt"


def files(seed: int, size: int = 3_000_000) -> dict[str, bytes]:
    return {"model.bin": bytes((seed + i) % 251 for i in range(size)), "progress.json": json.dumps({"seed": seed}).encode()}


def test_save_then_load_roundtrips_in_parts(uri: str) -> None:
    store = CheckpointStore(uri, part_mb=1 if uri.startswith("file") else 5, threads=4)
    written = files(1, size=11_000_000)
    ref, stats = store.save(7, written, meta={"note": "x"})
    assert stats.bytes == sum(len(v) for v in written.values())
    assert store.latest() == ref and ref.step == 7
    loaded, meta, _ = store.load(ref)
    assert {k: bytes(v) for k, v in loaded.items()} == written and meta == {"note": "x"}
    parts = [k for k in store.storage.list("data/") if "model.bin" in k]
    assert len(parts) == (11 if uri.startswith("file") else 3)  # split, so parts move in parallel


def test_data_without_a_manifest_is_invisible_and_collected(uri: str) -> None:
    store = CheckpointStore(uri)
    good, _ = store.save(5, files(5))
    # A writer that died after its data and before its manifest:
    store.storage.put("data/step-00000010.0badc0de/model.bin.00000", b"partial")
    assert store.latest() == good
    assert store.load_newest()[0] == good
    deleted = store.prune(keep=3)
    assert deleted == ["step-00000010.0badc0de"]
    assert not [k for k in store.storage.list("data/") if "0badc0de" in k]


@pytest.mark.parametrize("case", checkpoint_cases.ALL, ids=lambda case: case.__name__)
def test_the_store_guarantees_every_backend_keeps(uri: str, case: Callable[[CheckpointStore], None]) -> None:
    """The checks the GCS and Blob backends pass too (checkpoint_cases.py): round trip in
    parts, resume from the newest, a corrupt part falling back, pruning."""
    case(CheckpointStore(uri, part_mb=1))


def test_prune_keeps_the_newest_k_and_the_protected_one(uri: str) -> None:
    store = CheckpointStore(uri)
    refs = [store.save(step, files(step, size=1000))[0] for step in (2, 4, 6, 8, 10)]
    deleted = store.prune(keep=2, protect=frozenset({refs[0].name}))
    assert sorted(deleted) == sorted(r.name for r in refs[1:3])
    assert [r.step for r in store.list_complete()] == [2, 8, 10]
    kept_data = {k.split("/")[1] for k in store.storage.list("data/")}
    assert kept_data == {refs[0].name, refs[3].name, refs[4].name}


def test_missing_bucket_is_a_one_line_storage_error(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    storage = open_storage("s3://no-such-bucket-here/x")
    with pytest.raises(StorageError) as caught:
        storage.put("k", b"v")
    assert "NoSuchBucket" in str(caught.value) and "create it" in str(caught.value)


def test_local_put_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    storage = open_storage(f"file://{tmp_path}/s")
    storage.put("a/b.bin", b"1" * 10)
    storage.put("a/b.bin", b"2" * 10)
    assert storage.get("a/b.bin") == b"2" * 10
    assert os.listdir(tmp_path / "s" / "a") == ["b.bin"]
    storage.delete(["a/b.bin"])
    assert not (tmp_path / "s" / "a").exists() and (tmp_path / "s").is_dir()


CRASHING_SAVE = textwrap.dedent(
    """
    import sys
    from runtime.checkpoint.store import CheckpointStore
    store = CheckpointStore(sys.argv[1], part_mb=5)
    store.save(int(sys.argv[2]), {"model.bin": b"x" * 12_000_000})
    print("saved", flush=True)
    """
)


def test_a_process_killed_between_data_and_manifest_leaves_the_previous_checkpoint(moto_server: MotoServer, s3_uri: str) -> None:
    """A real SIGKILL at the commit point (RLCLOUD_FAILPOINT), against moto server."""
    store = CheckpointStore(s3_uri)
    previous, _ = store.save(3, files(3))
    env = job_env(moto_server, RLCLOUD_FAILPOINT="checkpoint.before_manifest:step=6")
    crashed = subprocess.run([sys.executable, "-c", CRASHING_SAVE, s3_uri, "6"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert crashed.returncode == -9 and "saved" not in crashed.stdout
    assert any(k.startswith("data/step-00000006.") for k in store.storage.list("data/"))  # its data landed
    assert store.latest() == previous
    # A later save by the resumed job commits, and collects the dead writer's parts.
    env.pop("RLCLOUD_FAILPOINT")
    ok = subprocess.run([sys.executable, "-c", CRASHING_SAVE, s3_uri, "6"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert store.latest().step == 6
    store.prune(keep=5)
    assert len({k.split("/")[1] for k in store.storage.list("data/")}) == 2


def test_job_with_an_unreachable_bucket_fails_fast_with_one_line(moto_server: MotoServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime.train", "--config", "examples/job.yaml", "--set", "checkpoint_uri=s3://no-such-bucket-here/p"],
        cwd=REPO,
        env=job_env(moto_server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: cannot list s3://no-such-bucket-here/p/demo/manifests/: NoSuchBucket" in result.stderr
    assert "Traceback" not in result.stderr and "Started a local Ray instance" not in result.stderr
