"""Bounded retries with exponential backoff for AWS's eventual consistency.

Two waits need it and neither has an AWS waiter: a security group stays "in use"
(DependencyViolation) for a while after the instances using it terminate, and a fresh IAM
instance profile is unknown to EC2 for a few seconds. We poll with growing delays under a
time budget instead of sleeping a fixed time (Ray's bootstrap sleeps 2 x 15 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0


def retry_while(
    fn: Callable[[], T],
    retryable: Callable[[Exception], bool],
    *,
    budget_s: float,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """Call `fn` until it returns; retry when `retryable(exc)`, with delays 0.5, 1, 2, ... 10 s,
    until `budget_s` has passed, then re-raise the last error."""
    deadline = time.monotonic() + budget_s
    delay = FIRST_DELAY_S
    while True:
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc) or time.monotonic() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
