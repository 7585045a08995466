"""Progress reporting for long operations, so `up` never sits silent for minutes.

The API takes a Progress; the CLI passes one that prints to stderr, Python callers may pass
`Progress.silent()`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    """Prints steps and waits with elapsed time; repeated identical wait lines are collapsed."""

    write: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    _last_wait: str | None = None

    @classmethod
    def to_stream(cls, stream: TextIO | None = None) -> Progress:
        out = stream or sys.stderr

        def write(line: str) -> None:
            out.write(line + "\n")
            out.flush()

        return cls(write=write)

    @classmethod
    def silent(cls) -> Progress:
        return cls(write=lambda line: None)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, message: str) -> None:
        self._last_wait = None
        self.write(f"[{self.elapsed():5.1f}s] {message}")

    def waiting(self, message: str) -> None:
        """A status line during a wait: printed when it changes, not on every poll."""
        if message != self._last_wait:
            self._last_wait = message
            self.write(f"[{self.elapsed():5.1f}s]   {message}")
