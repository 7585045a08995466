"""A stateful fake of Azure Resource Manager for the real Azure SDK clients (see server.py)."""

from tests.azure.fake_arm.errors import (
    ALLOCATION_FAILED,
    AUTHORIZATION_FAILED,
    QUOTA_EXCEEDED,
    SKU_NOT_AVAILABLE,
    THROTTLED,
    UNAUTHENTICATED,
    ArmError,
)
from tests.azure.fake_arm.server import FakeArm, Request, start_fake_arm

__all__ = [
    "ALLOCATION_FAILED",
    "AUTHORIZATION_FAILED",
    "QUOTA_EXCEEDED",
    "SKU_NOT_AVAILABLE",
    "THROTTLED",
    "UNAUTHENTICATED",
    "ArmError",
    "FakeArm",
    "Request",
    "start_fake_arm",
]
