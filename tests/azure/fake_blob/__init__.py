"""A stateful fake of Azure Blob Storage (block blobs, containers, RBAC on bearer tokens) over
HTTPS, and the token part of IMDS, for the real azure-storage-blob and azure-identity SDKs.
See server.py (addressing, TLS), api.py (operations), world.py (state, roles), imds.py."""

from tests.azure.fake_blob.imds import FakeImds
from tests.azure.fake_blob.server import Call, FakeBlobService
from tests.azure.fake_blob.world import ROLES, BlobWorld

__all__ = ["ROLES", "BlobWorld", "Call", "FakeBlobService", "FakeImds"]
