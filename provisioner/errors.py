"""Exceptions the CLI turns into exit codes and one-screen messages (never tracebacks).

Exit codes: 2 for bad input (spec or command line), 1 for everything else (cloud, Ray,
runtime failures). The CLI catches `RlcloudError` and prints `str(err)`.
"""

from __future__ import annotations

# The base classes are the contract shared with the runtime (rlcloud_contract/errors.py);
# re-exported so the provisioner keeps importing every error from here.
from rlcloud_contract.errors import CloudError as CloudError
from rlcloud_contract.errors import RlcloudError as RlcloudError
from rlcloud_contract.errors import SpecError as SpecError
from rlcloud_contract.errors import SpecIssue as SpecIssue
from rlcloud_contract.errors import UsageError as UsageError


class ClusterError(RlcloudError):
    """The Ray cluster is not in the state a command needs (not up, unreachable, ...)."""

    exit_code = 1


class MissingDependencyError(RlcloudError):
    """An optional extra is not installed (e.g. boto3 for AWS)."""

    exit_code = 1

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed",
            hint=f"pip install 'rlcloud[{extra}]'",
        )
