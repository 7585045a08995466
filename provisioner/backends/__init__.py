"""One backend per cloud behind the same verbs (up, down, status, endpoint, plan).

SkyPilot routes provisioning verbs to one module per cloud; Ray's NodeProvider is the same
idea as a class. Backends are imported lazily so a missing cloud SDK only matters when that
cloud is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.backends.base import ClusterBackend
    from provisioner.spec.models import ClusterSpecBase


def get_backend(spec: "ClusterSpecBase") -> "ClusterBackend":
    if spec.cloud == "local":
        from provisioner.backends.local import LocalBackend

        return LocalBackend()
    from provisioner.errors import RlcloudError

    raise RlcloudError(
        f"`up`/`down` for {spec.cloud} are not available yet in this version of rlcloud",
        hint="`rlcloud render SPEC` prints the Ray cluster YAML for `ray up`",
    )
