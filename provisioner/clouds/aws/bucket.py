"""The checkpoint bucket. When the spec asks rlcloud to create it: public access blocked,
default encryption, versioning on (an overwritten or deleted checkpoint can be recovered),
a policy refusing any request not made over TLS, and the cluster tags. A bucket rlcloud did not create is used as is: never
modified, never deleted, not even by `down --purge-storage`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from provisioner.clouds import ownership
from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import ERRORS, unless_missing
from provisioner.clouds.errors import AuthFailed
from provisioner.clouds.reconcile import Resource
from provisioner.errors import CloudError

KIND = "bucket"

BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}
ENCRYPTED_WITH = {"AES256", "aws:kms", "aws:kms:dsse"}  # any default encryption is kept as is
TLS_ONLY_SID = "rlcloud-deny-insecure-transport"


def tls_only_policy(bucket: str) -> dict[str, Any]:
    """Refuse every request not made over TLS (AWS's recommended bucket hardening)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TLS_ONLY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _has_tls_only(policy_text: str | None) -> bool:
    if not policy_text:
        return False
    statements = json.loads(policy_text).get("Statement", [])
    return any(
        st.get("Effect") == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False) for st in statements
    )


def _settings(s3: Any, bucket: str) -> dict[str, Any]:
    """Each setting rlcloud manages, as S3 reports it (None when unset)."""
    tagging = unless_missing(lambda: s3.get_bucket_tagging(Bucket=bucket))
    block = unless_missing(lambda: s3.get_public_access_block(Bucket=bucket))
    encryption = unless_missing(lambda: s3.get_bucket_encryption(Bucket=bucket))
    policy = unless_missing(lambda: s3.get_bucket_policy(Bucket=bucket))
    return {
        "tags": tagging["TagSet"] if tagging else [],
        "block": block["PublicAccessBlockConfiguration"] if block else None,
        "encryption": encryption["ServerSideEncryptionConfiguration"] if encryption else None,
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "policy": policy["Policy"] if policy else None,
    }


UNSET: dict[str, Any] = {"tags": [], "block": None, "encryption": None, "versioning": None, "policy": None}


def _drift(settings: dict[str, Any], cluster: str) -> list[str]:
    changes = []
    if not ownership.tags_say_ours(tags.as_dict(settings["tags"]), cluster):
        changes.append("tag it")
    if settings["block"] != BLOCK_ALL:
        changes.append("block all public access")
    rules = (settings["encryption"] or {}).get("Rules", [])
    if not any(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") in ENCRYPTED_WITH for r in rules):
        changes.append("default encryption")
    if settings["versioning"] != "Enabled":
        changes.append("versioning on")
    if not _has_tls_only(settings.get("policy")):
        changes.append("TLS only")
    return changes


def _configure(s3: Any, cluster: str, bucket: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Set what `_drift` finds missing; return the settings as they are now."""
    changes = _drift(settings, cluster)
    if "tag it" in changes:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags.cluster_tags(cluster)})
    if "block all public access" in changes:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
    if "default encryption" in changes:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)
    if "versioning on" in changes:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if "TLS only" in changes:
        # After the public access block: a Deny-only policy is not "public", so it is accepted.
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))
    return {**settings, "tags": tags.cluster_tags(cluster), "block": BLOCK_ALL, "versioning": "Enabled"}


def read(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's settings; None when no bucket has that name. A bucket of another account
    (names are global) stops here: it is never rlcloud's to use, change or delete."""
    try:
        s3.head_bucket(Bucket=bucket)  # "404": absent, to the reconciler
    except Exception as exc:
        if ERRORS.is_kind(exc, AuthFailed):
            raise CloudError(
                f"bucket {bucket} exists but this AWS account may not use it (S3 bucket names are global)",
                hint="pick another bucket name in storage.checkpoint_uri, or get access to it",
            ) from None
        raise
    return _settings(s3, bucket)


def _read_once(s3: Any, bucket: str, known: dict[str, Any] | None) -> Callable[[], dict[str, Any] | None]:
    """`read`, answered the first time by `known` when given (read moments ago)."""
    cached = [known] if known is not None else []

    def read_now() -> dict[str, Any] | None:
        return cached.pop() if cached else read(s3, bucket)

    return read_now


def _delete(s3: Any, bucket: str) -> None:
    """Every object version and delete marker (versioning is on), then the bucket."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes at most 1000
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def declare(
    s3: Any,
    cluster: str,
    bucket: str,
    region: str,
    *,
    recorded: bool,
    record_now: Callable[[str, dict[str, Any]], None] | None = None,
    kept_on_down: str | None = None,
    known: dict[str, Any] | None = None,
) -> Resource[dict[str, Any]]:
    """The checkpoint bucket rlcloud creates (storage.create_bucket), or finds it made.

    `recorded`: the cluster state says rlcloud created it. That makes it ours even untagged:
    `up` may have stopped between CreateBucket and PutBucketTagging, which is why the bucket
    is recorded (`record_now`) before any of its settings is set. `known`: its settings when
    just read (the reconciler's first read returns them instead of asking S3 again)."""

    def create() -> dict[str, Any]:
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **config)
        if record_now is not None:
            record_now(bucket, {})
        return _configure(s3, cluster, bucket, UNSET)

    return Resource(
        kind=KIND,
        name=bucket,
        read=_read_once(s3, bucket, known),
        create=create,
        update=lambda settings: _configure(s3, cluster, bucket, settings),
        delete=lambda _: _delete(s3, bucket),
        drift=lambda settings: "; ".join(_drift(settings, cluster)) or None,
        owned=lambda settings: recorded or ownership.tags_say_ours(tags.as_dict(settings["tags"]), cluster),
        detail="public access blocked, encrypted, versioned, TLS only",
        kept_on_down=kept_on_down,
        delete_command=f"empty every object version of s3://{bucket} (console: Empty), then aws s3api delete-bucket --bucket {bucket}",
    )


def declare_users(s3: Any, bucket: str, found: dict[str, Any] | None = None) -> Resource[dict[str, Any]]:
    """A bucket rlcloud did not create: used as is, never modified or deleted (not even by
    `down --purge-storage`). `found`: its settings when already read."""
    return Resource(
        kind=KIND,
        name=bucket,
        read=_read_once(s3, bucket, found),
        detail="not created by rlcloud: used as is, never modified or deleted",
        missing_hint="create it, or set storage.create_bucket: true to let rlcloud create it",
    )
