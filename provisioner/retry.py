"""The one retry helper: bounded retries with growing delays under a time budget.

Clouds are eventually consistent: a firewall stays "in use" for a while after the instances
using it terminate, a new role or instance profile is unknown to the compute API for a few
seconds, an IAM policy write races another. Polling with growing delays under a budget
beats a fixed sleep (fast when the cloud is fast, bounded when it is not). Everything in
rlcloud that waits out a cloud uses this.
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
    first_delay_s: float = FIRST_DELAY_S,
    max_delay_s: float = MAX_DELAY_S,
) -> T:
    """Call `fn` until it returns; when it raises and `retryable(exc)`, wait (0.5, 1, 2, ... up to
    10 s) and call again, until `budget_s` has passed; then re-raise the last error. Anything
    not retryable is raised at once."""
    deadline = time.monotonic() + budget_s
    delay = first_delay_s
    while True:
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc) or time.monotonic() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, max_delay_s)
