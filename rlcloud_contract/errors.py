"""Base error classes of rlcloud: an error with a message for a person, and its exit code.

Shared because the provisioner (`rlcloud`) and the runtime (`python -m runtime.train`, on the
cluster) must turn failures into the same exit codes and one-screen messages: 2 for bad input
(spec, job config or command line), 1 for everything else. Both catch `RlcloudError` and print
`str(err)`, never a traceback. provisioner/errors.py re-exports these next to the errors only
the provisioner raises; runtime/errors.py subclasses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class RlcloudError(Exception):
    """Base class: an error with a message meant for the person at the terminal."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(RlcloudError):
    """The command line itself is wrong (a missing file, a bad flag value)."""

    exit_code = 2


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where it is and what was expected."""

    path: str  # dotted field path, e.g. "node_groups.learner.max_nodes"; "" for the root
    message: str
    line: int | None = None  # 1-based line in the spec file, when known


@dataclass
class SpecError(RlcloudError):
    """A spec that does not parse or does not validate. Carries every issue found."""

    source: str
    issues: list[SpecIssue] = field(default_factory=list)

    exit_code = 2

    def __post_init__(self) -> None:
        RlcloudError.__init__(self, self.render())

    def render(self) -> str:
        lines = []
        for issue in self.issues:
            where = self.source if issue.line is None else f"{self.source}:{issue.line}"
            field_path = f" {issue.path}:" if issue.path else ""
            lines.append(f"{where}:{field_path} {issue.message}")
        return "\n".join(lines) if lines else f"{self.source}: invalid spec"

    def __str__(self) -> str:
        return self.render()

    @classmethod
    def single(cls, source: str | Path, message: str, *, path: str = "", line: int | None = None) -> SpecError:
        return cls(str(source), [SpecIssue(path=path, message=message, line=line)])


class CloudError(RlcloudError):
    """A cloud API refused or failed (quota, capacity, auth). Message says what to do next."""

    exit_code = 1
