"""One object-storage interface for checkpoints, over `s3://` (boto3), `gs://`
(google-cloud-storage), `az://` (azure-storage-blob + azure-identity) and `file://` (local
disk). Which schemes exist and how their URIs read is rlcloud_contract/storage_uri.py's to say;
`open_storage` picks the backend by scheme and imports its SDK only then.

Why boto3 rather than pyarrow filesystems: measured against moto server on this machine, a
300 MB state uploaded at ~90-120 MB/s through boto3 but ~46 MB/s through pyarrow's
S3FileSystem output stream; boto3 is already how rlcloud talks to AWS (same credential chain,
`AWS_ENDPOINT_URL`, and error codes we can turn into one-line messages); and the checkpoint
layout (runtime/checkpoint) needs only put/get/list/delete of whole objects, which each
backend does in a few lines. pyarrow's one advantage, one API for both schemes, is what this
interface gives us anyway (over four schemes, not two).
"""

from __future__ import annotations

from runtime.storage.base import ObjectStorage, open_storage

__all__ = ["ObjectStorage", "open_storage"]
