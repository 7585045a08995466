"""Who made which call in the Azure box: every request to Resource Manager, Blob, sign-in and
the metadata service, with the principal it acted as, where it came from and the answer's
status. Read by the `calls` control handler (tests, and people looking at a box)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    service: str  # arm, blob, login, imds
    method: str
    path: str  # without the query
    status: int
    source: str  # the caller's address
    principal: str | None  # object id the call acted as (None: anonymous)
    name: str | None  # that principal's name: the operator's app or the managed identity
    code: str = ""  # the error code of a refusal
    time: float = field(default_factory=time.time)

    def record(self) -> dict[str, Any]:
        return asdict(self)


class Trail:
    def __init__(self, name_of: Callable[[str], str | None]) -> None:
        self.name_of = name_of
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, service: str, method: str, path: str, status: int, source: str, principal: str | None, code: str = "") -> None:
        call = Call(service, method, path.split("?", 1)[0], status, source, principal, self.name_of(principal) if principal else None, code)
        with self._lock:
            self.calls.append(call)

    def since(self, when: float) -> list[dict[str, Any]]:
        with self._lock:
            return [c.record() for c in self.calls if c.time >= when]
