"""A minimal client for the Ray dashboard's HTTP API, with rlcloud's token in every request.

Plain urllib (no Ray import): `status` and readiness polling stay cheap, and we control the
Authorization header per request instead of relying on Ray's process-wide token cache.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from provisioner.errors import ClusterError


class TokenRefused(ClusterError):
    """The cluster answered 401/403: no token or the wrong one."""


class Unreachable(ClusterError):
    """Nothing answers at the dashboard address."""


@dataclass(frozen=True)
class DashboardEndpoint:
    """Where the dashboard / Jobs API answers, and the headers every request needs."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def get_json(self, path: str, timeout_s: float = 10.0) -> Any:
        request = urllib.request.Request(self.url.rstrip("/") + path, headers=dict(self.headers))
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read().decode() or "null")
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise TokenRefused(
                    f"the cluster at {self.url} refused the request ({exc.code}: {'no token' if exc.code == 401 else 'wrong token'})",
                    hint="use the cluster's token: rlcloud commands read it from the cluster's state directory",
                ) from None
            raise ClusterError(f"{self.url}{path} answered HTTP {exc.code}: {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"nothing answers at {self.url} ({reason})") from None

    def is_up(self) -> bool:
        try:
            self.get_json("/api/version", timeout_s=3.0)
            return True
        except ClusterError:
            return False

    def cluster_status(self) -> dict[str, Any]:
        """The autoscaler's own report (what `ray status` prints), as data."""
        status: dict[str, Any] = self.get_json("/api/cluster_status").get("data", {})
        return status

    def jobs(self) -> list[dict[str, Any]]:
        return self.get_json("/api/jobs/") or []
