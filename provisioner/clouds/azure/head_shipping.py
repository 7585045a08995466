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

PROVIDER_MODULE = "provisioner.clouds.azure.ray_node_provider.RlcloudAzureNodeProvider"
REMOTE_PYTHON_DIR = "~/.rlcloud/python"
REMOTE_PYTHON_DIR_SHELL = "$HOME/.rlcloud/python"
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


def file_mounts() -> dict[str, str]:
    """Remote path -> local path of each shipped module (Ray's `file_mounts` format)."""
    here = Path(__file__).resolve().parent
    return {f"{REMOTE_PYTHON_DIR}/provisioner/clouds/azure/{name}": str(here / name) for name in SHIPPED_MODULES}


def head_setup_command() -> str:
    return "python3 -m pip install --quiet " + " ".join(f'"{p}"' for p in HEAD_PIP_PACKAGES)


def with_head_env(command: str, identity_client_id: str | None) -> str:
    """`command` (the head's `ray start`) with the shipped modules importable and, when known,
    the cluster's managed identity named for DefaultAzureCredential (AZURE_CLIENT_ID selects a
    user-assigned identity through the instance metadata service; it is not a secret)."""
    exports = f"export PYTHONPATH={REMOTE_PYTHON_DIR_SHELL}${{PYTHONPATH:+:$PYTHONPATH}};"
    if identity_client_id:
        exports += f" export AZURE_CLIENT_ID={identity_client_id};"
    return f"{exports} {command}"
