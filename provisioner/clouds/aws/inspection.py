"""What `plan` and `up` share: one read of a resource, and what `up` would do about it.

Each resource module inspects (read-only) and then, in `up` only, acts on that inspection,
so the plan a user approves is computed by the same code that decides what `up` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.plan import Action, PlannedResource
from provisioner.state import CloudResource

# kind names shared by the plan, the cluster state and the teardown
KEY_PAIR = "key_pair"
SECURITY_GROUP = "security_group"
PLACEMENT_GROUP = "placement_group"
IAM_ROLE = "iam_role"
INSTANCE_PROFILE = "instance_profile"
BUCKET = "bucket"
INSTANCE = "instance"
SPOT_REQUEST = "spot_request"
VOLUME = "volume"
NETWORK_INTERFACE = "network_interface"


@dataclass
class Inspection:
    kind: str
    name: str
    action: Action
    detail: str = ""
    current: Any = None  # what the read returned (None when missing)
    changes: list[str] = field(default_factory=list)

    def planned(self) -> PlannedResource:
        detail = self.detail or "; ".join(self.changes)
        return PlannedResource(kind=self.kind, name=self.name, action=self.action, detail=detail)


# Called right after a resource exists, so a failure one call later still leaves it recorded.
Recorder = Callable[[CloudResource], None]
