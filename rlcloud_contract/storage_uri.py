"""Checkpoint URI schemes: the one place that says which exist and how each is parsed and
checked.

Two readers need the same answer: the cluster spec's field validator (`storage.checkpoint_uri`)
and the runtime's job config (`checkpoint_uri`, then `open_storage` picks a backend by scheme).
A scheme added here is accepted by both, with the same bucket rules and the same words in
the error. Which clouds' nodes may write to which scheme is each cloud driver's
(provisioner/drivers/, `checkpoint_schemes`).

    s3://BUCKET[/PREFIX]               Amazon S3 (or anything speaking its API)
    gs://BUCKET[/PREFIX]               Google Cloud Storage
    az://ACCOUNT/CONTAINER[/PREFIX]    Azure Blob Storage: storage account, then container
    file:///ABSOLUTE/PATH              a directory on the node (the local cluster only)

Pure string work, no SDK imports: `rlcloud --help` and spec validation import it. Part of
rlcloud_contract because the runtime on the cluster reads it without the provisioner installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_GCS_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_AZ_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")
# 3-63 of a-z, 0-9 and '-', starting with a letter or digit, every '-' followed by one.
_AZ_CONTAINER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


@dataclass(frozen=True)
class StorageLocation:
    """A parsed checkpoint URI. `bucket` is the S3/GCS bucket or the Azure container."""

    scheme: str
    bucket: str | None = None
    prefix: str = ""
    account: str | None = None  # az:// only
    path: str | None = None  # file:// only

    @property
    def uri(self) -> str:
        """The URI in its canonical form (no trailing slash)."""
        if self.scheme == "file":
            return f"file://{self.path}"
        root = f"{self.account}/{self.bucket}" if self.scheme == "az" else f"{self.bucket}"
        return f"{self.scheme}://{root}" + (f"/{self.prefix}" if self.prefix else "")


def _split(rest: str) -> tuple[str, str]:
    head, _, tail = rest.partition("/")
    return head, tail.strip("/")


def _s3(rest: str) -> StorageLocation:
    bucket, prefix = _split(rest)
    if not _S3_BUCKET_RE.match(bucket) or ".." in bucket or _IPV4_RE.match(bucket):
        raise ValueError(f"{bucket!r} is not a valid bucket name (3-63 chars of a-z, 0-9, '.', '-', starting and ending with a letter or digit)")
    return StorageLocation("s3", bucket=bucket, prefix=prefix)


def _gs(rest: str) -> StorageLocation:
    bucket, prefix = _split(rest)
    dotted = "." in bucket
    too_long = any(len(part) > 63 for part in bucket.split(".")) if dotted else len(bucket) > 63
    if not _GCS_BUCKET_RE.match(bucket) or too_long or ".." in bucket or bucket.startswith("goog") or _IPV4_RE.match(bucket):
        raise ValueError(
            f"{bucket!r} is not a valid bucket name (3-63 chars of a-z, 0-9, '-', '_', '.', starting and ending "
            "with a letter or digit, not starting with 'goog'; dotted names up to 222 with 63 per part)"
        )
    return StorageLocation("gs", bucket=bucket, prefix=prefix)


def _az(rest: str) -> StorageLocation:
    account, tail = _split(rest)
    container, prefix = _split(tail)
    if not container:
        raise ValueError(f"az:// URIs name a storage account and a container: az://ACCOUNT/CONTAINER[/PREFIX], got az://{rest}")
    if not _AZ_ACCOUNT_RE.match(account):
        raise ValueError(f"{account!r} is not a valid storage account name (3-24 chars of a-z and 0-9)")
    if not _AZ_CONTAINER_RE.match(container):
        raise ValueError(
            f"{container!r} is not a valid container name (3-63 chars of a-z, 0-9 and '-', starting with a letter "
            "or digit, no '--', not ending in '-')"
        )
    return StorageLocation("az", bucket=container, prefix=prefix, account=account)


def _file(rest: str) -> StorageLocation:
    if not rest.startswith("/"):
        raise ValueError("file:// URIs must be absolute, e.g. file:///tmp/checkpoints")
    path = rest.rstrip("/") or "/"
    return StorageLocation("file", path=path)


@dataclass(frozen=True)
class Scheme:
    """One checkpoint URI scheme: its name, its shape for messages, and its parser."""

    name: str
    shape: str
    parse: Callable[[str], StorageLocation]


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        Scheme("s3", "s3://BUCKET[/PREFIX]", _s3),
        Scheme("gs", "gs://BUCKET[/PREFIX]", _gs),
        Scheme("az", "az://ACCOUNT/CONTAINER[/PREFIX]", _az),
        Scheme("file", "file:///ABSOLUTE/PATH", _file),
    )
}

_URI_RE = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<rest>.*)$")


def expected_shapes() -> str:
    """'s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], ... or file:///ABSOLUTE/PATH'."""
    shapes = [scheme.shape for scheme in SCHEMES.values()]
    return ", ".join(shapes[:-1]) + f" or {shapes[-1]}"


def parse_uri(uri: str) -> StorageLocation:
    """Parse and check a checkpoint URI; ValueError says what was expected."""
    match = _URI_RE.match(uri)
    if not match:
        raise ValueError(f"expected {expected_shapes()}; got {uri!r}")
    name, rest = match.group("scheme"), match.group("rest")
    scheme = SCHEMES.get(name)
    if scheme is None:
        raise ValueError(f"unsupported scheme {name}://; expected {expected_shapes()}")
    return scheme.parse(rest)


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0]
