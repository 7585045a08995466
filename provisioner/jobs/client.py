"""Build Ray's JobSubmissionClient for an endpoint, with the cluster's token as a header."""

from __future__ import annotations

from typing import Any

from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.errors import ClusterError

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def _quiet_ray_sdk_logging() -> None:
    """Ray's job SDK logs every packaging step at INFO to stderr; rlcloud reports progress itself."""
    import logging

    # Ray sets levels on its own child loggers, so quieting the parent is not enough.
    for name in list(logging.root.manager.loggerDict):
        if name == "ray" or name.startswith("ray."):
            logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging", "ray._private.runtime_env.working_dir"):
        logging.getLogger(name).setLevel(logging.ERROR)


def job_client(endpoint: DashboardEndpoint) -> Any:
    from ray.job_submission import JobSubmissionClient

    _quiet_ray_sdk_logging()
    try:
        return JobSubmissionClient(endpoint.url, headers=dict(endpoint.headers))
    except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError from Ray
        reason = _first_line(exc)
        if "uthentication" in reason:
            from provisioner.cluster.dashboard import TokenRefused

            raise TokenRefused(
                f"the cluster at {endpoint.url} refused the request: {reason}",
                hint="pass the cluster's token with --token-file (or RAY_AUTH_TOKEN) when using --address",
            ) from None
        raise ClusterError(f"cannot reach the Jobs API at {endpoint.url}: {reason}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
