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


def get_backend(spec: ClusterSpecBase) -> ClusterBackend:
    if spec.cloud == "local":
        from provisioner.backends.local import LocalBackend

        return LocalBackend()
    from provisioner.backends.cloud import CloudBackend

    return CloudBackend(get_provisioner(spec.cloud))


def get_provisioner(cloud: str):  # -> CloudProvisioner
    """The cloud's provisioner; a missing SDK becomes a friendly MissingDependencyError."""
    import importlib

    from provisioner.errors import RlcloudError

    module_name = {"aws": "provisioner.clouds.aws", "gcp": "provisioner.clouds.gcp", "azure": "provisioner.clouds.azure"}[cloud]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("provisioner.clouds"):
            raise RlcloudError(
                f"`up`/`down` for {cloud} are not available in this version of rlcloud",
                hint="`rlcloud render SPEC` prints the Ray cluster YAML for `ray up`",
            ) from None
        raise
    return module.provisioner()
