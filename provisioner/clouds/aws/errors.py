"""AWS errors -> CloudError: AWS's own code and message, and what to do next.

Every AWS call of the provisioner runs inside `aws_errors("what we were doing")`, so a
quota, capacity, auth or network problem reaches the user as one readable message
(exit 1), never as a botocore traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from provisioner.errors import CloudError

T = TypeVar("T")

AUTH_CODES = {
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "OptInRequired",
}
CAPACITY_CODES = {"InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientCapacity", "InsufficientReservedInstanceCapacity"}
THROTTLE_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException", "RequestThrottled"}
RESUME = "then re-run `rlcloud up` (it continues where it stopped), or `rlcloud down` to remove what was created"


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def is_quota(code: str) -> bool:
    return (code.endswith("LimitExceeded") and code not in THROTTLE_CODES) or code in {"TooManyBuckets", "MaxSpotInstanceCountExceeded"}


def hint_for(code: str) -> str:
    if code in {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "AuthFailure", "SignatureDoesNotMatch", "InvalidAccessKeyId"}:
        return f"the AWS credentials are invalid or expired: refresh them (`aws sso login`, AWS_PROFILE), {RESUME}"
    if code in AUTH_CODES:
        return (
            "the AWS identity rlcloud runs as may not do this: grant it the permission named above "
            f"(`aws sts decode-authorization-message` explains an encoded message), {RESUME}"
        )
    if code in CAPACITY_CODES:
        return f"AWS has no capacity for this right now: try another `zone` or later, {RESUME}"
    if is_quota(code):
        return f"an AWS quota is exhausted: request more in Service Quotas or delete unused resources, {RESUME}"
    if code in THROTTLE_CODES:
        return f"AWS kept throttling after retries: wait a minute, {RESUME}"
    return RESUME


def to_cloud_error(exc: BaseException, doing: str) -> CloudError:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoCredentialsError):
        return CloudError(
            f"{doing}: no AWS credentials found", hint="configure them (`aws configure`, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, NoRegionError):
        return CloudError(f"{doing}: no AWS region", hint="this is an rlcloud bug: the spec's region should be used")
    if isinstance(exc, EndpointConnectionError):
        return CloudError(f"{doing}: cannot reach AWS ({exc})", hint=f"check the network / AWS_ENDPOINT_URL, {RESUME}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return CloudError(f"{doing}: AWS said {code}: {error_message(exc)}", hint=hint_for(code))
    return CloudError(f"{doing}: {type(exc).__name__}: {exc}", hint=RESUME)


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn botocore errors raised inside into a CloudError that says what we were doing."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise to_cloud_error(exc, doing) from None


def not_found(exc: BaseException, *codes: str) -> bool:
    """True when `exc` is a ClientError whose code is one of `codes` (the "already gone" answers)."""
    return error_code(exc) in codes


def or_none(call: Callable[..., T], *codes: str, **kwargs: Any) -> T | None:
    """`call(**kwargs)`, or None when AWS answers with one of the not-found `codes`."""
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) in codes:
            return None
        raise
