"""AWS's answers in rlcloud's one error vocabulary (provisioner/clouds/errors.py).

`ERRORS` reads a botocore exception once: its kind (NotFound, InUse, ...), AWS's own code
and message, and what the user should do next. The reconciler decides by the kind (retry
"in use", treat "not found" on delete as done); every AWS call runs inside
`ERRORS.calls("what we were doing")`, so a quota, capacity, auth or network problem reaches
the user as one message (exit 1), never as a botocore traceback:

    creating security group rlcloud-x: AWS said VcpuLimitExceeded: <AWS's words>
      hint: an AWS quota is exhausted: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from provisioner.clouds.errors import (
    RESUME,
    AlreadyExists,
    AuthFailed,
    CapacityUnavailable,
    Classified,
    ErrorMapping,
    InUse,
    Kind,
    NotFound,
    NotYetConsistent,
    QuotaExceeded,
    Throttled,
)

T = TypeVar("T")

# Credentials AWS rejected (as opposed to a permission the identity lacks).
BAD_CREDENTIAL_CODES = {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "AuthFailure", "SignatureDoesNotMatch", "InvalidAccessKeyId"}
AUTH_CODES = BAD_CREDENTIAL_CODES | {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "OptInRequired", "403", "Forbidden"}
CAPACITY_CODES = {"InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientCapacity", "InsufficientReservedInstanceCapacity"}
THROTTLE_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException", "RequestThrottled"}
QUOTA_CODES = {"TooManyBuckets", "MaxSpotInstanceCountExceeded"}  # besides every *LimitExceeded
# EC2 answers "<Thing>.NotFound" (InvalidGroup.NotFound, InvalidKeyPair.NotFound, ...); these
# are the other "does not exist" answers of the services rlcloud calls. S3's "no such
# setting" answers (no tags, no policy, ...) are NotFound too: the setting is absent.
NOT_FOUND_CODES = {
    "NoSuchEntity",
    "NoSuchBucket",
    "InvalidPlacementGroup.Unknown",
    "404",
    "NotFound",
    "NoSuchTagSet",
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchBucketPolicy",
}
ALREADY_EXISTS_CODES = {"EntityAlreadyExists", "BucketAlreadyOwnedByYou", "BucketAlreadyExists"}  # and every *.Duplicate
IN_USE_CODES = {
    "DependencyViolation",
    "DeleteConflict",
    "BucketNotEmpty",
    "InvalidPlacementGroup.InUse",
    "VolumeInUse",
    "InvalidNetworkInterface.InUse",
}


def _kind(code: str, message: str) -> Kind | None:
    if code.endswith(".NotFound") or code in NOT_FOUND_CODES:
        return NotFound
    if code.endswith(".Duplicate") or code in ALREADY_EXISTS_CODES:
        return AlreadyExists
    if code in IN_USE_CODES:
        return InUse
    if code == "InvalidParameterValue" and any(word in message.lower() for word in ("iaminstanceprofile", "iam instance profile")):
        # EC2 does not know a fresh instance profile yet (IAM propagates in seconds): "Value
        # (...) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name".
        return NotYetConsistent
    if code in THROTTLE_CODES:
        return Throttled
    if code.endswith("LimitExceeded") or code in QUOTA_CODES:
        return QuotaExceeded
    if code in CAPACITY_CODES:
        return CapacityUnavailable
    if code in AUTH_CODES:
        return AuthFailed
    return None


def hint_for(code: str) -> str:
    """What to do next about an AWS error code; always ends with how to resume."""
    if code in BAD_CREDENTIAL_CODES:
        return f"the AWS credentials are invalid or expired: refresh them (`aws sso login`, AWS_PROFILE), {RESUME}"
    kind = _kind(code, "")
    if kind is AuthFailed:
        return (
            "the AWS identity rlcloud runs as may not do this: grant it the permission named above "
            f"(`aws sts decode-authorization-message` explains an encoded message), {RESUME}"
        )
    if kind is CapacityUnavailable:
        return f"AWS has no capacity for this right now: try another `zone` or later, {RESUME}"
    if kind is QuotaExceeded:
        return f"an AWS quota is exhausted: request more in Service Quotas or delete unused resources, {RESUME}"
    if kind is Throttled:
        return f"AWS kept throttling after retries: wait a minute, {RESUME}"
    return RESUME


def _sdk_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def _classify(exc: BaseException) -> Classified | None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")) or str(exc)
        return Classified(_kind(code, message), code, message, hint_for(code))
    if isinstance(exc, ParamValidationError):
        return None  # a request rlcloud built wrong: a bug of ours, kept a traceback
    name = type(exc).__name__
    if isinstance(exc, NoCredentialsError):
        return Classified(
            AuthFailed,
            name,
            f"no AWS credentials found ({exc})",
            "configure them (`aws configure`, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        )
    if isinstance(exc, NoRegionError):
        return Classified(None, name, str(exc), "this is an rlcloud bug: the spec's region should be used")
    if isinstance(exc, EndpointConnectionError):
        return Classified(None, name, f"cannot reach AWS ({exc})", f"check the network / AWS_ENDPOINT_URL, {RESUME}")
    return Classified(None, name, str(exc), RESUME)


ERRORS = ErrorMapping(cloud="AWS", sdk_errors=_sdk_errors, classify=_classify)


def unless_missing(call: Callable[[], T]) -> T | None:
    """`call()`, or None when AWS answers that what it reads does not exist (a bucket without
    tags, a role without its inline policy): for the parts of a resource that may be absent."""
    try:
        return call()
    except Exception as exc:
        if ERRORS.is_kind(exc, NotFound):
            return None
        raise
