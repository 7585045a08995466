"""The checkpoint bucket. When the spec asks rlcloud to create it: public access blocked,
default encryption, versioning on (an overwritten or deleted checkpoint can be recovered),
a policy refusing any request not made over TLS, and the cluster tags. A bucket rlcloud did not create is used as is: never
modified, never deleted, not even by `down --purge-storage`.
"""

from __future__ import annotations

from typing import Any

from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import aws_errors, or_none
from provisioner.clouds.aws.inspection import BUCKET, Inspection, Recorder
from provisioner.errors import CloudError
from provisioner.state import CloudResource

BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}
ENCRYPTED_WITH = {"AES256", "aws:kms", "aws:kms:dsse"}  # any default encryption is kept as is
MISSING = ("404", "NoSuchBucket", "NotFound")
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
    import json

    if not policy_text:
        return False
    statements = json.loads(policy_text).get("Statement", [])
    return any(
        st.get("Effect") == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False) for st in statements
    )


def _settings(s3: Any, bucket: str) -> dict[str, Any]:
    """Each setting rlcloud manages, as S3 reports it (None when unset)."""
    tagging = or_none(s3.get_bucket_tagging, "NoSuchTagSet", Bucket=bucket)
    block = or_none(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=bucket)
    encryption = or_none(s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", Bucket=bucket)
    policy = or_none(s3.get_bucket_policy, "NoSuchBucketPolicy", Bucket=bucket)
    return {
        "tags": tagging["TagSet"] if tagging else [],
        "block": block["PublicAccessBlockConfiguration"] if block else None,
        "encryption": encryption["ServerSideEncryptionConfiguration"] if encryption else None,
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "policy": policy["Policy"] if policy else None,
    }


def _drift(settings: dict[str, Any], cluster: str) -> list[str]:
    changes = []
    if not tags.is_ours(settings["tags"], cluster):
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


def exists(s3: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in MISSING:
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            raise CloudError(
                f"bucket {bucket} exists but this AWS account may not use it (S3 bucket names are global)",
                hint="pick another bucket name in storage.checkpoint_uri, or get access to it",
            ) from None
        raise


def inspect(s3: Any, cluster: str, bucket: str, *, create: bool, recorded_ours: bool) -> Inspection:
    """`recorded_ours`: the cluster state says rlcloud created it (its tags may not be set yet
    if `up` stopped right after CreateBucket)."""
    with aws_errors(f"looking up bucket {bucket}"):
        if not exists(s3, bucket):
            if create:
                return Inspection(BUCKET, bucket, "create", "public access blocked, encrypted, versioned, TLS only")
            raise CloudError(
                f"checkpoint bucket {bucket} does not exist",
                hint="create it, or set storage.create_bucket: true to let rlcloud create it",
            )
        settings = _settings(s3, bucket)
    if not (recorded_ours or tags.is_ours(settings["tags"], cluster)):
        return Inspection(BUCKET, bucket, "use", "not created by rlcloud: used as is, never modified or deleted", current=settings)
    found = Inspection(BUCKET, bucket, "keep", current=settings)
    found.changes = _drift(settings, cluster)
    if found.changes:
        found.action = "update"
    return found


def ensure(s3: Any, cluster: str, bucket: str, region: str, found: Inspection, record: Recorder) -> None:
    if found.action == "use":
        record(CloudResource(kind=BUCKET, id=bucket, created=False))
        return
    if found.action == "create":
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        with aws_errors(f"creating bucket {bucket}"):
            s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **config)
    # Recorded before its settings: if one of them fails, the next `up` knows the bucket
    # is ours and finishes it, and `down --purge-storage` may delete it.
    record(CloudResource(kind=BUCKET, id=bucket, created=True))
    if found.action == "keep":
        return
    settings = found.current or {"tags": [], "block": None, "encryption": None, "versioning": None, "policy": None}
    changes = _drift(settings, cluster)
    with aws_errors(f"configuring bucket {bucket}"):
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
            import json

            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))


def is_ours(s3: Any, cluster: str, bucket: str) -> bool:
    tagging = or_none(s3.get_bucket_tagging, "NoSuchTagSet", "NoSuchBucket", Bucket=bucket)
    return tagging is not None and bool(tagging) and tags.is_ours(tagging["TagSet"], cluster)


def delete(s3: Any, bucket: str) -> None:
    """Every object version and delete marker (versioning is on), then the bucket."""
    if not exists(s3, bucket):
        return
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes at most 1000
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
