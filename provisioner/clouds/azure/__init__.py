"""Azure: NSG, VNet, proximity placement group, managed identity with a group-scoped custom
role (the head's only: workers get an identity of their own for az:// checkpoints, or none),
and a Ray node provider that uses them (see azure_provisioner.py for the order, and
ray_node_provider.py for how nodes get accelerated networking, the placement group and the
identities). Plan, up and down run on the shared reconciler (provisioner/clouds/reconcile.py).

Importing this package is cheap: the Azure SDK is imported only when a client is built.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.clouds.azure.azure_provisioner import AzureProvisioner

# Module -> the pip package that provides it (all in the `azure` extra). The last two are what
# Ray's own Azure provider imports, which rlcloud's node provider extends.
REQUIRED_MODULES: dict[str, str] = {
    "azure.identity": "azure-identity",
    "azure.mgmt.resource": "azure-mgmt-resource",
    "azure.mgmt.network": "azure-mgmt-network",
    "azure.mgmt.compute": "azure-mgmt-compute",
    "azure.mgmt.msi": "azure-mgmt-msi",
    "azure.mgmt.authorization": "azure-mgmt-authorization",
    "msrest": "msrest",
    "msrestazure": "msrestazure",
}


def _missing_package() -> str | None:
    for module, package in REQUIRED_MODULES.items():
        try:
            if importlib.util.find_spec(module) is None:
                return package
        except (ModuleNotFoundError, ValueError):  # a parent package is missing / blocked in sys.modules
            return package
    return None


def provisioner() -> AzureProvisioner:
    from provisioner.errors import MissingDependencyError

    missing = _missing_package()
    if missing:
        raise MissingDependencyError(missing, "azure")
    from provisioner.clouds.azure.azure_provisioner import AzureProvisioner

    return AzureProvisioner()
