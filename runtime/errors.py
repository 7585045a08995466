"""Errors the runtime raises for a person to read: each says what went wrong and what to do.

They subclass the shared `RlcloudError` (rlcloud_contract/errors.py), so `rlcloud` and
`python -m runtime.train` map them to the same exit codes (2: bad input, 1: everything else)
and print no traceback.
"""

from __future__ import annotations

from rlcloud_contract.errors import CloudError, RlcloudError, UsageError


class ConfigError(UsageError):
    """A job config (YAML, `--set` or environment) that does not validate. Exit code 2."""


class PlacementTimeoutError(RlcloudError):
    """The run's placement group was not ready in time; the message names what is missing."""


class StorageError(CloudError):
    """Checkpoint storage refused or failed (no bucket, no access, unreachable endpoint)."""


class CheckpointCorruptError(RlcloudError):
    """A checkpoint's bytes do not match its manifest (size or checksum)."""


class ModelUnavailableError(UsageError):
    """A model alias that is unknown, or that needs an optional extra that is not installed."""


class StaleWeightsError(RuntimeError):
    """A sampler was asked for rollouts of a weights version it does not hold.

    Not an RlcloudError: the learner catches it, re-sends the weights and retries, so a
    sampler can never silently serve rollouts from old weights.
    """
