"""How rlcloud's Ray node provider reaches the head, where Ray's autoscaler imports it.

The autoscaler on the head loads `provider.module` by import name, so the same dotted name
must resolve on the operator's machine (rlcloud installed) and on the head (rlcloud not
installed). The provider's modules are shipped as files under ~/.rlcloud/python/provisioner/
clouds/azure/ with no __init__.py files: Python treats those folders as namespace packages
(PEP 420), so `provisioner.clouds.azure.ray_node_provider` imports there too, and the shipped
modules import only the standard library, Ray and the Azure SDK. The head's `ray start` runs
with that folder on PYTHONPATH; the autoscaler (Ray's monitor) is its child and inherits it.

Cheap to import: the compiler reads these constants.
"""

from __future__ import annotations

from pathlib import Path

from provisioner.compile.common import REMOTE_PYTHON_DIR

PROVIDER_MODULE = "provisioner.clouds.azure.ray_node_provider.RlcloudAzureNodeProvider"
SHIPPED_MODULES = ("sdk_clients.py", "vm_template.py", "ray_node_provider.py")

# What Ray's Azure provider imports on the head, at the versions Ray 2.60's own Azure example
# installs (ray/autoscaler/azure/defaults.yaml). azure-mgmt-resource must stay below 25, which
# dropped the `azure.mgmt.resource.ResourceManagementClient` import Ray uses.
HEAD_PIP_PACKAGES = (
    "azure-core==1.35.0",
    "azure-identity==1.23.1",
    "azure-mgmt-compute==35.0.0",
    "azure-mgmt-network==29.0.0",
    "azure-mgmt-resource==24.0.0",
    "azure-common==1.1.28",
    "msrest==0.7.1",
    "msrestazure==0.6.4.post1",
)


def modules() -> dict[str, str]:
    """Path under the shipped python dir -> local path of each shipped module."""
    # Located from this file, not by importing them: compile/ never imports clouds/.
    here = Path(__file__).resolve().parent.parent / "clouds" / "azure"
    return {f"provisioner/clouds/azure/{name}": str(here / name) for name in SHIPPED_MODULES}


def file_mounts() -> dict[str, str]:
    """Remote path -> local path of each shipped module (Ray's `file_mounts` format)."""
    return {f"{REMOTE_PYTHON_DIR}/{relative}": local for relative, local in modules().items()}


def head_env(identity_client_id: str | None) -> dict[str, str]:
    """Environment for the head's `ray start`: when known, the cluster's managed identity named
    for DefaultAzureCredential (AZURE_CLIENT_ID selects a user-assigned identity through the
    instance metadata service; it is not a secret)."""
    return {"AZURE_CLIENT_ID": identity_client_id} if identity_client_id else {}
