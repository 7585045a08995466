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
    def for_cluster(cls, name: str) -> CompileContext:
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
