"""az:// checkpoints through the real azure-storage-blob SDK against the fake Blob service
(tests/azure/fake_blob, HTTPS with a CA made at start), signed in by azure-identity's real
DefaultAzureCredential -> ManagedIdentityCredential against the fake IMDS
(AZURE_POD_IDENTITY_AUTHORITY_HOST), with AZURE_CLIENT_ID naming a user-assigned identity.

Covered: the store's guarantees, staged blocks + block list and parallel ranged reads for a
part bigger than a chunk, pagination, and one-line errors: a missing container, a 403 outside
the identity's container, a token the service refuses (401), an identity IMDS does not have."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from runtime.checkpoint.store import CheckpointStore
from runtime.errors import StorageError
from runtime.storage import open_storage
from runtime.storage.azure_blob import ENDPOINT_ENV, AzureBlobStorage, account_url
from tests.azure.fake_blob import FakeBlobService, FakeImds
from tests.azure.fake_blob.world import Blob
from tests.runtime import checkpoint_cases

MB = 1024 * 1024
ACCOUNT = "rlckpt01"
CONTRIBUTOR = "Storage Blob Data Contributor"
CLEARED = ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS", "IDENTITY_ENDPOINT", "MSI_ENDPOINT")


@pytest.fixture(scope="module")
def blob_service() -> Iterator[tuple[FakeBlobService, FakeImds]]:
    service = FakeBlobService().start()
    imds = FakeImds(service.world).start()
    service.world.add_account(ACCOUNT)
    yield service, imds
    imds.stop()
    service.stop()


@pytest.fixture
def fake(blob_service: tuple[FakeBlobService, FakeImds], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBlobService]:
    """The service, with this process's SDKs pointed at it and signed in as a fresh
    user-assigned identity (AZURE_CLIENT_ID) that has no role yet."""
    service, imds = blob_service
    for name, value in {**service.env(), **imds.env()}.items():
        monkeypatch.setenv(name, value)
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    identity = service.world.add_identity(client_id=str(uuid.uuid4()))
    monkeypatch.setenv("AZURE_CLIENT_ID", identity.client_id or "")
    service.principal = identity.principal  # type: ignore[attr-defined]
    yield service
    assert service.bugs == [], "the fake Blob service failed on a request"


def principal(fake: FakeBlobService) -> str:
    return str(fake.principal)  # type: ignore[attr-defined]


@pytest.fixture
def container(fake: FakeBlobService) -> str:
    """A fresh container the test's identity may read and write (Contributor on it only)."""
    name = f"ckpt-{uuid.uuid4().hex[:10]}"
    fake.world.add_container(ACCOUNT, name)
    fake.world.assign(principal(fake), CONTRIBUTOR, ACCOUNT, name)
    return name


def test_the_endpoint_template_and_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    assert account_url("acct1") == "https://acct1.blob.core.windows.net"
    monkeypatch.setenv(ENDPOINT_ENV, "https://{account}.blob.core.usgovcloudapi.net/")
    assert account_url("acct1") == "https://acct1.blob.core.usgovcloudapi.net"
    monkeypatch.setenv(ENDPOINT_ENV, "https://10.0.0.5:8443/")
    assert account_url("acct1") == "https://10.0.0.5:8443/acct1"
    monkeypatch.setenv(ENDPOINT_ENV, "http://10.0.0.5:8080")
    with pytest.raises(StorageError, match="not https://: Azure sends bearer tokens over TLS only"):
        open_storage("az://acct1/ckpt/p")


@pytest.mark.parametrize("case", checkpoint_cases.ALL, ids=lambda c: c.__name__)
def test_the_checkpoint_store_keeps_its_guarantees_on_blob_storage(container: str, case: Callable[[CheckpointStore], None]) -> None:
    case(CheckpointStore(f"az://{ACCOUNT}/{container}/runs/test", part_mb=1, threads=4))


def test_a_part_bigger_than_a_chunk_moves_as_staged_blocks_and_parallel_ranges(fake: FakeBlobService, container: str) -> None:
    store = CheckpointStore(AzureBlobStorage(f"az://{ACCOUNT}/{container}/runs", chunk_bytes=MB), part_mb=5, threads=2)
    written = {"model.bin": bytes(i % 253 for i in range(5 * MB + 777))}
    since = len(fake.calls)
    ref, _ = store.save(3, written)
    first = [c for c in fake.calls[since:] if c.blob and c.blob.endswith("model.bin.00000")]
    blocks = [c for c in first if c.query.get("comp") == "block"]
    assert len(blocks) == 5 and {c.size for c in blocks} == {MB}
    assert [c.query.get("comp") for c in first if c.query.get("comp") != "block"] == ["blocklist"]
    stored = fake.world.blob(ACCOUNT, container, f"runs/data/{ref.name}/model.bin.00000")
    assert isinstance(stored, Blob) and len(stored.blocks) == 5

    since = len(fake.calls)
    loaded, _, _ = store.load(ref)
    assert bytes(loaded["model.bin"]) == written["model.bin"]
    ranges = sorted(c.range or "" for c in fake.calls[since:] if c.blob and c.blob.endswith("model.bin.00000"))
    assert ranges == sorted(f"bytes={i * MB}-{(i + 1) * MB - 1}" for i in range(5))


def test_small_and_empty_objects_and_deletes(fake: FakeBlobService, container: str) -> None:
    storage = open_storage(f"az://{ACCOUNT}/{container}/p")
    since = len(fake.calls)
    storage.put("a/one", b"x" * 1000)
    storage.put("a/empty", b"")
    assert [c.query for c in fake.calls[since:]] == [{}, {}]  # one Put Blob each
    assert storage.get("a/one") == b"x" * 1000 and storage.get("a/empty") == b""
    storage.delete(["a/one", "a/never-written"])  # a key already gone is not an error
    assert storage.list() == ["a/empty"]


def test_listing_follows_markers(fake: FakeBlobService, container: str) -> None:
    names = [f"many/k/{i:04d}" for i in range(5003)]  # more than one page of 5000
    box = fake.world.accounts[ACCOUNT][container]
    for name in names:
        box.blobs[name] = Blob(b"v", "application/octet-stream", None)
    since = len(fake.calls)
    assert open_storage(f"az://{ACCOUNT}/{container}/many").list("k/") == [n.removeprefix("many/") for n in names]
    assert [c.query.get("marker") is not None for c in fake.calls[since:]] == [False, True]


def test_a_missing_container_is_a_one_line_error_with_a_hint(fake: FakeBlobService) -> None:
    fake.world.assign(principal(fake), CONTRIBUTOR, ACCOUNT)  # account-wide: the container's absence shows
    storage = open_storage(f"az://{ACCOUNT}/no-such-container/x")
    with pytest.raises(StorageError) as caught:
        storage.list()
    assert caught.value.message == f"cannot list az://{ACCOUNT}/no-such-container/x: 404 ContainerNotFound: The specified container does not exist."
    assert "az storage container create --account-name rlckpt01 --name no-such-container" in (caught.value.hint or "")


def test_a_write_outside_the_identitys_container_is_refused_with_403(fake: FakeBlobService, container: str) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    fake.world.add_container(ACCOUNT, other)
    with pytest.raises(StorageError) as caught:
        open_storage(f"az://{ACCOUNT}/{other}/runs").put("k", b"v")
    assert caught.value.message == (
        f"cannot write az://{ACCOUNT}/{other}/runs/k: 403 AuthorizationPermissionMismatch: "
        "This request is not authorized to perform this operation using this permission."
    )
    assert "Storage Blob Data Contributor" in (caught.value.hint or "")
    assert fake.world.accounts[ACCOUNT][other].blobs == {}
    open_storage(f"az://{ACCOUNT}/{container}/runs").put("k", b"v")  # its own container still works


def test_a_reader_may_read_but_not_write(fake: FakeBlobService, container: str) -> None:
    fake.world.accounts[ACCOUNT][container].blobs["runs/k"] = Blob(b"kept", "application/octet-stream", None)
    reader = fake.world.add_identity(client_id=str(uuid.uuid4()))
    fake.world.assign(reader.principal, "Storage Blob Data Reader", ACCOUNT, container)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZURE_CLIENT_ID", reader.client_id or "")
        storage = open_storage(f"az://{ACCOUNT}/{container}/runs")
        assert storage.get("k") == b"kept" and storage.list() == ["k"]
        with pytest.raises(StorageError, match="403 AuthorizationPermissionMismatch"):
            storage.delete(["k"])
    assert fake.world.accounts[ACCOUNT][container].blobs["runs/k"].data == b"kept"


def test_an_identity_imds_does_not_have_is_a_one_line_auth_error(fake: FakeBlobService, container: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-dead-beef-0000-000000000000")
    with pytest.raises(StorageError) as caught:
        open_storage(f"az://{ACCOUNT}/{container}/runs").list()
    assert caught.value.message.startswith(f"cannot list az://{ACCOUNT}/{container}/runs: no Azure token: ManagedIdentityCredential:")
    assert "Identity not found" in caught.value.message and "\n" not in caught.value.message
    assert "AZURE_CLIENT_ID" in (caught.value.hint or "")


def test_a_token_the_service_no_longer_accepts_is_a_one_line_401(fake: FakeBlobService, container: str) -> None:
    storage = open_storage(f"az://{ACCOUNT}/{container}/runs")
    storage.put("k", b"v1")
    fake.world.tokens.clear()  # the credential's cached token is now unknown to the service
    with pytest.raises(StorageError) as caught:
        storage.put("k", b"v2")
    assert caught.value.message == (
        f"cannot write az://{ACCOUNT}/{container}/runs/k: 401 InvalidAuthenticationInfo: "
        "Server failed to authenticate the request. Please refer to the information in the www-authenticate header."
    )
    assert "managed identity" in (caught.value.hint or "")
    reopened = open_storage(f"az://{ACCOUNT}/{container}/runs")  # a new credential asks IMDS again
    reopened.put("k", b"v3")
    assert reopened.get("k") == b"v3"
