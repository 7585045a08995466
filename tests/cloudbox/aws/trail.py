"""The box's CloudTrail: one JSON line per API request (who, from where, what, allowed or not,
the HTTP status), so tests can prove which identity made a call (the head's role launched the
workers, a worker's role wrote the checkpoints) and that a verb made no mutating call."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TRAIL_FILE = "aws-trail.jsonl"


@dataclass
class TrailRecord:
    time: float
    source_ip: str
    method: str
    path: str
    service: str = ""
    action: str = ""  # e.g. ec2:RunInstances
    principal: str = ""  # the signer's ARN (an assumed-role session for instance roles)
    decision: str = ""  # allow | explicit-deny | implicit-deny | unauthenticated
    denied: str = ""  # the resource that was refused, when refused
    status: int = 0
    resources: list[str] = field(default_factory=list)


class Trail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._local = threading.local()

    # One record per request thread: the WSGI layer opens it, authorization fills it in.
    def begin(self, source_ip: str, method: str, path: str) -> None:
        self._local.record = TrailRecord(time=time.time(), source_ip=source_ip, method=method, path=path)

    def current(self) -> TrailRecord | None:
        return getattr(self._local, "record", None)

    def end(self, status: int) -> None:
        record = self.current()
        self._local.record = None
        if record is None or not record.action:
            return  # not an API call (a health probe, a refused /moto-api path)
        record.status = status
        line = json.dumps(asdict(record), sort_keys=True)
        with self._lock, self.path.open("a") as out:
            out.write(line + "\n")


def read_trail(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / TRAIL_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def records(state_dir: Path, *, since: float = 0.0) -> Iterator[dict[str, Any]]:
    for record in read_trail(state_dir):
        if record["time"] >= since:
            yield record
