"""Names and tags of everything rlcloud creates, derived from the cluster name.

One module so the compiler (which references resources) and the provisioners (which create
and sweep them) can never disagree on a name. Cluster names are at most 32 characters of
[a-z0-9-] (see spec.models), which keeps every derived name within its cloud's limits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The tag / label every rlcloud-created resource carries; `down` sweeps by it.
TAG_KEY = "rlcloud-cluster"
# Marks resources rlcloud created (as opposed to ones the user brought), so `down` never
# deletes a resource that merely carries the cluster tag because a user copied it.
MANAGED_TAG_KEY = "rlcloud-managed"

RLCLOUD_HOME_ENV = "RLCLOUD_HOME"


def rlcloud_home() -> Path:
    """Root of rlcloud's local state (~/.rlcloud unless RLCLOUD_HOME says otherwise)."""
    import os

    return Path(os.environ.get(RLCLOUD_HOME_ENV) or Path.home() / ".rlcloud")


def state_dir(cluster: str) -> Path:
    """Per-cluster state directory: token, SSH key, rendered Ray YAML, provisioning state."""
    return rlcloud_home() / "clusters" / cluster


# Paths on the cluster's nodes.
REMOTE_TOKEN_PATH = "~/.rlcloud/auth_token"


def _short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


# --- AWS
def aws_security_group(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def aws_placement_group(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def aws_key_pair(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def aws_role(cluster: str) -> str:
    return f"rlcloud-{cluster}-node"  # <= 45 chars; IAM allows 64


def aws_instance_profile(cluster: str) -> str:
    return f"rlcloud-{cluster}-node"


def aws_default_bucket(cluster: str, account_id: str) -> str:
    return f"rlcloud-{cluster}-{account_id}"  # <= 53 chars; S3 allows 63


# --- GCP
def gcp_network_tag(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def gcp_firewall_internal(cluster: str) -> str:
    return f"rlcloud-{cluster}-internal"


def gcp_firewall_ssh(cluster: str) -> str:
    return f"rlcloud-{cluster}-ssh"


def gcp_placement_policy(cluster: str) -> str:
    return f"rlcloud-{cluster}-compact"


def gcp_service_account_id(cluster: str) -> str:
    """Service account ids are 6-30 chars; long cluster names are shortened with a hash."""
    candidate = f"rlcloud-{cluster}"  # >= 9 chars for the shortest (1-char) cluster name
    if len(candidate) <= 30:
        return candidate
    return f"rlcloud-{cluster[:15].rstrip('-')}-{_short_hash(cluster)}"


def gcp_service_account_email(cluster: str, project: str) -> str:
    return f"{gcp_service_account_id(cluster)}@{project}.iam.gserviceaccount.com"


# --- Azure
def azure_resource_group(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def azure_nsg(cluster: str) -> str:
    return f"rlcloud-{cluster}-nsg"


def azure_vnet(cluster: str) -> str:
    return f"rlcloud-{cluster}-vnet"


def azure_subnet(cluster: str) -> str:
    return f"rlcloud-{cluster}-subnet"


def azure_ppg(cluster: str) -> str:
    return f"rlcloud-{cluster}-ppg"


def azure_identity(cluster: str) -> str:
    return f"rlcloud-{cluster}-identity"
