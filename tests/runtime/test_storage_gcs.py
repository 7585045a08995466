"""gs:// checkpoints through the real google-cloud-storage SDK against the fake Cloud Storage
JSON API (tests/gcp/fake_gcp): the store's guarantees, multipart / resumable uploads and
parallel ranged reads of a big part, and one-line errors (no bucket, 403, refused credentials).

Most tests use the SDK's emulator mode (STORAGE_EMULATOR_HOST: anonymous); the access tests
use a real service account key file whose token_uri is the fake's OAuth endpoint, with
API_ENDPOINT_OVERRIDE, so the bucket's IAM policy decides."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.checkpoint.store import CheckpointStore
from runtime.errors import StorageError
from runtime.storage import open_storage
from runtime.storage.gcs import GcsStorage
from tests.gcp.fake_gcp import FakeGcp
from tests.gcp.fake_gcp.oauth import service_account_key
from tests.gcp.fake_gcp.objects import put_object
from tests.gcp.fake_gcp.storage import add_bucket
from tests.runtime import checkpoint_cases

MB = 1024 * 1024
PROJECT = "my-rl-project"


@pytest.fixture(scope="module")
def gcs() -> Iterator[FakeGcp]:
    fake = FakeGcp().start()
    yield fake
    fake.stop()


@pytest.fixture
def bucket(gcs: FakeGcp, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, and this process's storage SDK in emulator mode against the fake."""
    for name, value in gcs.storage_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_ENDPOINT_OVERRIDE", raising=False)
    name = f"ckpt-{uuid.uuid4().hex[:10]}"
    add_bucket(gcs.world, name)
    return name


@pytest.mark.parametrize("case", checkpoint_cases.ALL, ids=lambda c: c.__name__)
def test_the_checkpoint_store_keeps_its_guarantees_on_gcs(bucket: str, case: Callable[[CheckpointStore], None]) -> None:
    case(CheckpointStore(f"gs://{bucket}/runs/test", part_mb=1, threads=4))


def test_a_part_bigger_than_a_chunk_moves_by_resumable_chunks_and_parallel_ranges(gcs: FakeGcp, bucket: str) -> None:
    storage = GcsStorage(f"gs://{bucket}/runs", chunk_bytes=MB)
    store = CheckpointStore(storage, part_mb=9, threads=2)  # > 8 MiB: the SDK uploads it resumably
    written = {"model.bin": bytes(i % 253 for i in range(9 * MB + 4321))}
    since = gcs.mark()
    ref, _ = store.save(3, written)
    uploads = [c for c in gcs.calls[since:] if c.path.startswith("/upload/")]
    chunks = [c for c in uploads if c.method == "PUT"]
    assert len(chunks) == 9 and {c.size for c in chunks[:8]} == {MB}  # the 9 MiB part, 1 MiB a chunk
    assert chunks[0].headers["content-range"].startswith("bytes 0-1048575/")

    since = gcs.mark()
    loaded, _, _ = store.load(ref)
    assert bytes(loaded["model.bin"]) == written["model.bin"]
    ranges = sorted(c.headers["range"] for c in gcs.calls[since:] if "range" in c.headers and "model.bin.00000" in c.path)
    assert len(ranges) == 9 and "bytes=0-1048575" in ranges and "bytes=8388608-9437183" in ranges


def test_small_objects_are_one_multipart_upload_and_an_empty_one_reads_back(gcs: FakeGcp, bucket: str) -> None:
    storage = open_storage(f"gs://{bucket}/p")
    since = gcs.mark()
    storage.put("a/one", b"x" * 1000)
    storage.put("a/empty", b"")
    uploads = [c for c in gcs.calls[since:] if c.path.startswith("/upload/")]
    assert [c.headers["content-type"].split(";")[0] for c in uploads] == ["multipart/related"] * 2
    assert storage.get("a/one") == b"x" * 1000 and storage.get("a/empty") == b""
    assert storage.list("a/") == ["a/empty", "a/one"]
    storage.delete(["a/one", "a/never-written"])  # a key already gone is not an error
    assert storage.list() == ["a/empty"]


def test_listing_follows_pages(gcs: FakeGcp, bucket: str) -> None:
    storage = open_storage(f"gs://{bucket}/many")
    keys = [f"k/{i:04d}" for i in range(1203)]  # more than the fake's page of 1000
    for key in keys:
        put_object(gcs.world, bucket, f"many/{key}", b"v")
    since = gcs.mark()
    assert storage.list("k/") == keys
    assert len([c for c in gcs.calls[since:] if c.path.endswith("/o")]) == 2


def test_a_missing_bucket_is_a_one_line_error_with_a_hint(bucket: str) -> None:
    storage = open_storage("gs://no-such-bucket-here/x")
    for action in (lambda: storage.put("k", b"v"), lambda: storage.list()):
        with pytest.raises(StorageError) as caught:
            action()
        assert "404 notFound: The specified bucket does not exist." in caught.value.message
        assert "\n" not in caught.value.message and "create_bucket" in (caught.value.hint or "")


@pytest.fixture
def node_account(gcs: FakeGcp, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A service account with rlcloud's grant on `bucket` (objectUser, limited to runs/), and
    this process signed in as it through a key file, with the SDK not in emulator mode."""
    email = gcs.world.add_account(PROJECT, f"node-{uuid.uuid4().hex[:6]}")["email"]
    condition = f'resource.name == "projects/_/buckets/{bucket}" || resource.name.startsWith("projects/_/buckets/{bucket}/objects/runs/")'
    gcs.world.bucket_policies[bucket]["bindings"].append(
        {"role": "roles/storage.objectUser", "members": [f"serviceAccount:{email}"], "condition": {"title": "checkpoints", "expression": condition}}
    )
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(service_account_key(gcs.world, email, f"{gcs.url}/token")))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("API_ENDPOINT_OVERRIDE", gcs.url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    return email


def test_with_credentials_the_grant_allows_the_prefix_and_refuses_elsewhere_with_403(gcs: FakeGcp, bucket: str, node_account: str) -> None:
    store = CheckpointStore(f"gs://{bucket}/runs/job", part_mb=1)
    ref, _ = store.save(1, checkpoint_cases.files(1))
    assert store.load_newest() is not None and store.latest() == ref
    assert any(c.path == "/token" and c.status == 200 for c in gcs.calls)  # signed in through the key

    outside = open_storage(f"gs://{bucket}/elsewhere")
    with pytest.raises(StorageError) as caught:
        outside.put("k", b"v")
    assert caught.value.message == (
        f"cannot write gs://{bucket}/elsewhere/k: 403 forbidden: {node_account} does not have storage.objects.create access "
        "to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist)."
    )
    assert "IAM bindings" in (caught.value.hint or "")
    assert not [n for n in gcs.world.objects.get(bucket, {}) if n.startswith("elsewhere/")]


def test_refused_credentials_are_a_one_line_error(gcs: FakeGcp, bucket: str, node_account: str) -> None:
    gcs.world.account_keys.pop(node_account)  # the key was deleted: its JWTs no longer sign in
    storage = open_storage(f"gs://{bucket}/runs/job")
    with pytest.raises(StorageError) as caught:
        storage.list()
    assert "RefreshError: invalid_grant: Invalid JWT Signature." in caught.value.message
    assert "\n" not in caught.value.message and "service account" in (caught.value.hint or "")
