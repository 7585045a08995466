"""`s3://` storage through boto3. The endpoint comes from the SDK's usual places
(`AWS_ENDPOINT_URL`, config files), which is how tests point it at moto server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.errors import StorageError
from runtime.storage.base import Buffer, ObjectStorage

# Error codes a person can act on, and what to tell them.
_HINTS = {
    "NoSuchBucket": "the bucket does not exist; `rlcloud up` creates it for cloud specs, or create it",
    "AccessDenied": "the node's credentials may not use this bucket/prefix; check its IAM role",
    "InvalidAccessKeyId": "the AWS credentials are not valid here",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
}


class S3Storage(ObjectStorage):
    def __init__(self, uri: str, *, max_connections: int = 16) -> None:
        import boto3
        from botocore.config import Config

        rest = uri.removeprefix("s3://")
        self.bucket, _, prefix = rest.partition("/")
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        config = Config(max_pool_connections=max_connections, retries={"mode": "standard", "max_attempts": 5})
        self.client = boto3.client("s3", config=config)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            return StorageError(f"{action} {self.url(key)}: {code}: {message}", hint=_HINTS.get(code))
        return StorageError(f"{action} {self.url(key)}: {exc}", hint="check AWS_ENDPOINT_URL / network access to S3")

    def _call(self, action: str, key: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(action, key, exc) from None

    def put(self, key: str, data: Buffer) -> None:
        body = data if isinstance(data, bytes) else bytes(data)
        self._call("cannot write", key, self.client.put_object, Key=self._key(key), Body=body)

    def get(self, key: str) -> bytes:
        response = self._call("cannot read", key, self.client.get_object, Key=self._key(key))
        return response["Body"].read()

    def list(self, prefix: str = "") -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("cannot list", prefix, exc) from None
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        pending = [self._key(k) for k in keys]
        for start in range(0, len(pending), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": k} for k in pending[start : start + 1000]]
            self._call("cannot delete under", "", self.client.delete_objects, Delete={"Objects": batch, "Quiet": True})
