"""What a compiler needs besides the spec: local paths and the ids of provisioned resources.

Compilers are pure: they never call a cloud. Ids that only exist after `up` has created
something (a security group id, a subnet id, an AMI resolved from an alias) come in through
these models; before provisioning they are left unset and the compiler writes a visible
`{{rlcloud:...}}` placeholder, which `rlcloud render` explains and `up` replaces.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from provisioner import naming


def pending(what: str) -> str:
    """Placeholder for a value `rlcloud up` fills in (e.g. a security group id)."""
    return "{{rlcloud:" + what + "}}"


def is_pending(value: object) -> bool:
    return isinstance(value, str) and value.startswith("{{rlcloud:")


class CompileContext(BaseModel):
    """Local facts: where the cluster's state (token, SSH key) lives on the operator's machine."""

    model_config = ConfigDict(extra="forbid")

    state_dir: Path = Field(description="The cluster's state directory (token, keys, rendered YAML).")

    @classmethod
    def for_cluster(cls, name: str) -> "CompileContext":
        return cls(state_dir=naming.state_dir(name))

    @property
    def token_file(self) -> Path:
        return self.state_dir / "auth_token"

    @property
    def ssh_private_key(self) -> Path:
        return self.state_dir / "ssh_key"

    @property
    def ssh_public_key(self) -> Path:
        return self.state_dir / "ssh_key.pub"


class AwsRefs(BaseModel):
    """AWS ids known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    security_group_id: str | None = None
    subnet_id: str | None = None
    instance_profile: str | None = Field(default=None, description="Instance profile ARN (or name).")
    images: dict[str, str] = Field(default_factory=dict, description="Image as written in the spec ('' = default) -> AMI id.")
    root_device_names: dict[str, str] = Field(default_factory=dict, description="AMI id -> root device name.")


class GcpRefs(BaseModel):
    """GCP facts known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    service_account_email: str | None = None
    ssh_public_key: str | None = Field(default=None, description="OpenSSH public key text for instance metadata.")


class AzureRefs(BaseModel):
    """Azure ids known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    resource_group: str | None = None
    subnet_id: str | None = None
    nsg_id: str | None = None
    identity_id: str | None = None
    identity_principal_id: str | None = None
    ppg_id: str | None = None


class LocalRefs(BaseModel):
    """Ports of a local cluster, picked at `up` so two local clusters never collide."""

    model_config = ConfigDict(extra="forbid")

    gcs_port: int = 6379
    dashboard_port: int = 8265
