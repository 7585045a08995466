"""Error answers in the shapes the real APIs use, for the fake's own checks and for tests
that inject failures.

Compute Engine and Cloud Storage answer `{"error": {"code", "message", "errors": [{"domain",
"reason", "message"}]}}`; IAM and Resource Manager answer `{"error": {"code", "message",
"status", "details"}}`. A failed Compute *operation* is an HTTP 200 whose operation is DONE
with `error.errors[].code` and `httpErrorStatusCode` set, which is how capacity and
regional quota errors arrive when VMs are created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpFailure:
    """An error response: the HTTP status and body."""

    status: int
    body: dict[str, Any]
    name: str = ""


@dataclass(frozen=True)
class OperationFailure:
    """A Compute operation that ends DONE with an error."""

    code: str
    message: str
    http_status: int
    http_message: str
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_http(self) -> HttpFailure:
        """The same failure for an API without operations."""
        return rest_error(self.http_status, self.message, self.code, self.name)


def rest_error(status: int, message: str, reason: str, name: str = "", domain: str = "global") -> HttpFailure:
    """Compute Engine / Cloud Storage style."""
    return HttpFailure(
        status, {"error": {"code": status, "message": message, "errors": [{"message": message, "domain": domain, "reason": reason}]}}, name or reason
    )


def rpc_error(status: int, message: str, rpc_status: str, reason: str | None = None, name: str = "") -> HttpFailure:
    """IAM / Resource Manager style (google.rpc.Status as JSON)."""
    body: dict[str, Any] = {"error": {"code": status, "message": message, "status": rpc_status}}
    if reason:
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}]
    return HttpFailure(status, body, name or rpc_status)


# --- failures tests inject -----------------------------------------------------------------


def quota_exceeded(metric: str = "FIREWALLS", limit: float = 200.0) -> HttpFailure:
    return rest_error(403, f"Quota '{metric}' exceeded.  Limit: {limit} globally.", "quotaExceeded", "quota", domain="usageLimits")


def rate_limit_exceeded() -> HttpFailure:
    return rest_error(403, "Rate Limit Exceeded", "rateLimitExceeded", "rate-limit", domain="usageLimits")


def unauthenticated() -> HttpFailure:
    message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
    failure = rest_error(401, message, "authError", "unauthenticated")
    failure.body["error"]["status"] = "UNAUTHENTICATED"
    return failure


def permission_denied(permission: str = "compute.firewalls.create") -> HttpFailure:
    return rpc_error(
        403, f"Permission '{permission}' denied on resource (or it may not exist).", "PERMISSION_DENIED", "IAM_PERMISSION_DENIED", "permission-denied"
    )


def zone_resource_pool_exhausted(zone: str = "us-central1-a") -> OperationFailure:
    return OperationFailure(
        code="ZONE_RESOURCE_POOL_EXHAUSTED",
        message=f"The zone 'projects/my-rl-project/zones/{zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.",
        http_status=503,
        http_message="SERVICE UNAVAILABLE",
        name="zone-exhausted",
    )


def regional_quota_exceeded(metric: str = "NVIDIA_H100_GPUS", region: str = "us-central1") -> OperationFailure:
    return OperationFailure(
        code="QUOTA_EXCEEDED",
        message=f"Quota '{metric}' exceeded.  Limit: 0.0 in region {region}.",
        http_status=403,
        http_message="FORBIDDEN",
        name="regional-quota",
    )


INJECTABLE = [
    quota_exceeded(),
    rate_limit_exceeded(),
    unauthenticated(),
    permission_denied(),
    zone_resource_pool_exhausted(),
    regional_quota_exceeded(),
]
