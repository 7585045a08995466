"""ARM's error responses: `{"error": {"code", "message"}}` with the status Azure uses, and the
faults a test can inject (quota, capacity, throttling, authorization)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArmError(Exception):
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message}}


def not_found(resource_type: str, name: str, group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def group_not_found(group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")


def bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


# Faults a test can inject, shaped like what Azure returns for them.
QUOTA_EXCEEDED = ArmError(
    409,
    "QuotaExceeded",
    "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. "
    "Location: eastus, Current Limit: 10, Current Usage: 8, Additional Required: 96, (Minimum) New Limit Required: 104.",
)
SKU_NOT_AVAILABLE = ArmError(
    409,
    "SkuNotAvailable",
    "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_ND96isr_H100_v5' "
    "is currently not available in location 'eastus'. Please try another size or deploy to a different location or different zone.",
)
ALLOCATION_FAILED = ArmError(
    409,
    "AllocationFailed",
    "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.",
)
THROTTLED = ArmError(
    429,
    "TooManyRequests",
    "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:05:00.",
    headers={"Retry-After": "1"},
)
AUTHORIZATION_FAILED = ArmError(
    403,
    "AuthorizationFailed",
    "The client 'operator@example.com' with object id '00000000-0000-0000-0000-0000000000aa' does not have authorization "
    "to perform action 'Microsoft.Network/networkSecurityGroups/write' over scope '/subscriptions/x' or the scope is invalid. "
    "If access was recently granted, please refresh your credentials.",
)
UNAUTHENTICATED = ArmError(
    401,
    "InvalidAuthenticationToken",
    "The access token is invalid.",
)
