"""The cluster spec: one YAML file per cluster, validated by these pydantic models.

Structure and single-field rules live here; rules that need the instance catalog or span
several fields (an accelerator resolving to a type, EFA on a type that has none, zone in
region) live in `checks.py` and run from `ClusterSpecBase`'s after-validator, so a spec
built in Python is held to the same rules as one loaded from YAML.

Every field carries a description: they feed `rlcloud schema` (the JSON Schema editors use)
and the docs. Unknown keys are errors everywhere (`extra="forbid"`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from provisioner.spec.human import AcceleratorRequest, DiskGB
from rlcloud_contract.storage_uri import StorageLocation, parse_uri

# Name rules shared by all three clouds. The tightest constraints: GCP resource names
# ([a-z]([-a-z0-9]*[a-z0-9])?, <= 63, and Ray's GCP instance names add ~30 chars), IAM role
# names (<= 64 with our prefix/suffix) and S3 bucket names we derive from the cluster name.
CLUSTER_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
CLUSTER_NAME_MAX = 32
GROUP_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
RESERVED_GROUP_NAMES = {"head", "ray.head.default"}
# Ray node label keys: optional DNS-style prefix, then a name of <= 63 alphanumerics and -_.
LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
# Resources that have their own fields; custom resources must not shadow them.
BUILTIN_RESOURCES = {"CPU": "cpus", "GPU": "accelerators", "memory": "(set by Ray)", "object_store_memory": "(set by Ray)"}


class SpecModel(BaseModel):
    """Base for every spec model: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------- shared pieces


def _check_cluster_name(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if len(value) > CLUSTER_NAME_MAX:
        raise ValueError(
            f"{len(value)} characters; at most {CLUSTER_NAME_MAX} (it becomes part of cloud resource names, which AWS IAM and GCP limit)"
        )
    if not CLUSTER_NAME_RE.match(value):
        raise ValueError(
            "use lowercase letters, digits and '-', starting with a letter and not ending "
            f"with '-' (GCP resource-name rules, which AWS and Azure also accept); got {value!r}"
        )
    return value


ClusterName = Annotated[
    str,
    BeforeValidator(_check_cluster_name),
    Field(
        description="Cluster name, 1-32 characters of [a-z0-9-], starting with a letter. "
        "Every cloud resource rlcloud creates is named after it and tagged "
        "`rlcloud-cluster=<name>`.",
        examples=["rl-team-a"],
    ),
]


class RayDocker(SpecModel):
    """Run Ray inside a container on every node (Ray's `docker:` section)."""

    image: Annotated[str, Field(description="Container image with Ray installed, e.g. rayproject/ray-ml:2.60.0-gpu.", min_length=1)]
    container_name: Annotated[str, Field(description="Name of the container on each node.")] = "ray_container"
    pull_before_run: Annotated[bool, Field(description="Pull the image before starting it.")] = True
    run_options: Annotated[list[str], Field(description="Extra `docker run` options, e.g. --ulimit nofile=65536:65536.")] = []


class RaySettings(SpecModel):
    """How Ray itself is installed and how its autoscaler behaves."""

    version: Annotated[
        str,
        Field(
            description="Ray version installed on the nodes; must match the Ray on the operator's machine for the Jobs API and `ray up` to agree.",
            pattern=r"^\d+\.\d+\.\d+$",
        ),
    ] = "2.60.0"
    idle_timeout_minutes: Annotated[float, Field(description="Minutes a worker node may sit idle before the autoscaler removes it.", ge=0)] = 5.0
    upscaling_speed: Annotated[
        float,
        Field(description="How many nodes the autoscaler may add at once, as a multiple of the current count.", gt=0),
    ] = 1.0
    preinstalled: Annotated[
        bool,
        Field(
            description="The nodes' image already has Ray `version` (and whatever the job imports) on PATH, as a "
            "custom AMI or image would: no `pip install` at setup, so the nodes need no access to PyPI.",
        ),
    ] = False
    setup_commands: Annotated[list[str], Field(description="Shell commands run on every node after Ray is installed (e.g. pip installs).")] = []
    head_setup_commands: Annotated[list[str], Field(description="Shell commands run on the head node only.")] = []
    worker_setup_commands: Annotated[list[str], Field(description="Shell commands run on worker nodes only.")] = []
    env: Annotated[
        dict[str, str],
        Field(description="Environment variables for `ray start` on every node (e.g. NCCL settings). Never put secrets here."),
    ] = {}
    docker: Annotated[RayDocker | None, Field(description="Run Ray in a container (optional).")] = None

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
            if key.startswith("RAY_AUTH"):
                raise ValueError(f"{key} is managed by rlcloud (token authentication is always on)")
        return value


class StorageSettings(SpecModel):
    """Where checkpoints go."""

    checkpoint_uri: Annotated[
        str | None,
        Field(
            description="Checkpoint location: s3://bucket/prefix on any cloud, gs://bucket/prefix on GCP, "
            "az://account/container/prefix on Azure, file:///path on the local cluster. Passed to every job as "
            "RLCLOUD_CHECKPOINT_URI. "
            "Default on the local cluster: a folder in the cluster's state directory.",
            examples=["s3://my-rl-checkpoints/team-a"],
        ),
    ] = None
    create_bucket: Annotated[
        bool,
        Field(
            description="Create the bucket (public access blocked, encrypted, versioned) if it does not exist; on "
            "Azure the storage account and container, in resource group rlcloud-<name>-data (or the spec's "
            "resource_group), kept by `down` unless --purge-storage. "
            "A bucket rlcloud did not create is never modified or deleted.",
        ),
    ] = False

    @field_validator("checkpoint_uri")
    @classmethod
    def _uri_shape(cls, value: str | None) -> str | None:
        if value is not None:
            parse_uri(value)  # ValueError: what was expected (rlcloud_contract/storage_uri.py)
        return value

    @property
    def location(self) -> StorageLocation | None:
        return parse_uri(self.checkpoint_uri) if self.checkpoint_uri else None

    @property
    def scheme(self) -> str | None:
        return self.location.scheme if self.location else None

    @property
    def bucket(self) -> str | None:
        """The s3:// or gs:// bucket, or the az:// container; None for file://."""
        return self.location.bucket if self.location else None

    @property
    def account(self) -> str | None:
        """The az:// storage account; None for other schemes."""
        return self.location.account if self.location else None

    @property
    def prefix(self) -> str:
        return self.location.prefix if self.location else ""


def _check_resources(value: dict[str, int]) -> dict[str, int]:
    for key in value:
        if key in BUILTIN_RESOURCES:
            raise ValueError(f"{key!r} is set through the `{BUILTIN_RESOURCES[key]}` field, not `resources`")
        if not re.match(r"^[A-Za-z0-9_.:/-]{1,64}$", key):
            raise ValueError(f"resource name {key!r}: use letters, digits and _ . : / - (at most 64)")
    return value


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if key.startswith("ray.io/"):
            raise ValueError(f"label {key!r}: the ray.io/ prefix is reserved for Ray's own labels")
        if not LABEL_KEY_RE.match(key):
            raise ValueError(f"label key {key!r}: [prefix/]name, name up to 63 of A-Z a-z 0-9 - _ .")
        if not LABEL_VALUE_RE.match(str(val)):
            raise ValueError(f"label {key}={val!r}: values are up to 63 of A-Z a-z 0-9 - _ .")
    return value


Resources = Annotated[
    dict[str, Annotated[int, Field(ge=0)]],
    Field(description="Extra custom Ray resources on each node of this type, e.g. {learner: 1}. Whole numbers."),
]
Labels = Annotated[
    dict[str, str],
    Field(description="Ray node labels on each node of this type, for label-based scheduling, e.g. {role: sampler}."),
]


class _NodeFields(SpecModel):
    """Fields every node type has, on every cloud."""

    resources: Resources = {}
    labels: Labels = {}

    @field_validator("resources")
    @classmethod
    def _resource_names(cls, value: dict[str, int]) -> dict[str, int]:
        return _check_resources(value)

    @field_validator("labels")
    @classmethod
    def _label_syntax(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_labels(value)


class _GroupScaling(SpecModel):
    """Autoscaling bounds of a worker node group."""

    min_nodes: Annotated[int, Field(description="Nodes kept running at all times.", ge=0, le=1000)] = 0
    max_nodes: Annotated[int, Field(description="Most nodes the autoscaler may run for this group.", ge=0, le=1000)] = 1

    @model_validator(mode="after")
    def _min_le_max(self) -> _GroupScaling:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) must be <= max_nodes ({self.max_nodes})")
        return self


# --------------------------------------------------------------------------- cloud node types


class CloudNodeSpec(_NodeFields):
    """A cloud node type: by instance type, by accelerator request, or both (they must agree)."""

    instance_type: Annotated[
        str | None,
        Field(
            description="AWS instance type, GCP machine type or Azure VM size, e.g. p5.48xlarge, "
            "a3-highgpu-8g, Standard_ND96isr_H100_v5. Optional when `accelerators` is given.",
        ),
    ] = None
    accelerators: Annotated[
        AcceleratorRequest | None,
        Field(
            description="GPUs per node as NAME:COUNT, e.g. H100:8, A100:8, L4:1. Resolved to the cheapest "
            "type of this cloud that carries exactly that, unless `instance_type` is given.",
            examples=["H100:8"],
        ),
    ] = None
    disk_gb: DiskGB = 200
    image: Annotated[
        str | None,
        Field(
            description="Boot image. AWS: an AMI id (ami-...) or an alias resolved at `up` time "
            "(deep-learning-base, ubuntu-22.04). GCP: an image URL or family path. Azure: "
            "publisher:offer:sku:version. Default: each cloud's GPU-ready deep learning image.",
        ),
    ] = None
    cpus: Annotated[
        int | None,
        Field(description="CPUs Ray may schedule on this node; default: all vCPUs of the type.", ge=0),
    ] = None


class HeadSpec(CloudNodeSpec):
    """The head node: runs the Ray GCS, autoscaler, dashboard and job drivers. Always on-demand."""

    instance_type: Annotated[
        str | None,
        Field(description="Instance / machine / VM type of the head. Default: a mid-size CPU type of the cloud."),
    ] = None


class NodeGroupSpec(CloudNodeSpec, _GroupScaling):
    """A named group of identical worker nodes that the autoscaler scales between min and max."""

    spot: Annotated[
        bool,
        Field(description="Use spot / preemptible capacity (cheaper, can be reclaimed). Samplers suit it; learners rarely do."),
    ] = False
    placement: Annotated[
        bool | None,
        Field(
            description="Put this group in the cluster's placement group (network.placement). "
            "Default: yes for on-demand GPU groups when network.placement is not 'none'; spot groups "
            "stay out (spot capacity inside one placement group is scarce).",
        ),
    ] = None
    fast_networking: Annotated[
        FastNetworking | None,
        Field(description="Override network.fast_networking for this group."),
    ] = None


# --------------------------------------------------------------------------- local node types


class LocalNodeSpec(_NodeFields):
    """A simulated node on this machine: a Ray raylet process with the resources you give it."""

    cpus: Annotated[int, Field(description="CPUs the simulated node advertises to Ray.", ge=0, le=64)] = 1
    accelerators: Annotated[
        AcceleratorRequest | None,
        Field(
            description="Simulated GPUs, NAME:COUNT (any name; only the count becomes Ray's GPU resource). "
            "Use the cloud template's names to keep the same shape, e.g. H100:2.",
        ),
    ] = None
    object_store_mb: Annotated[
        int, Field(description="Object store size of the simulated node in MB (kept small: they share this machine).", ge=75)
    ] = 256


class LocalHeadSpec(LocalNodeSpec):
    """The local head node (the `ray start --head` process on this machine)."""

    cpus: Annotated[int, Field(description="CPUs the head advertises to Ray (job drivers and small tasks run here).", ge=0, le=64)] = 2


class LocalNodeGroupSpec(LocalNodeSpec, _GroupScaling):
    """A group of simulated worker nodes that the real Ray autoscaler starts and stops on demand."""


# --------------------------------------------------------------------------- networking


def _parse_cidr(value: Any) -> ipaddress.IPv4Network:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 CIDR string like 203.0.113.0/24, got {value!r}")
    text = value.strip()
    if "/" not in text:
        text += "/32"
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            fixed = ipaddress.IPv4Network(text, strict=False)
            raise ValueError(f"{value!r} has host bits set; did you mean {fixed}?") from None
        raise ValueError(f"{value!r} is not an IPv4 CIDR like 203.0.113.0/24") from None


def _parse_ssh_cidrs(value: Any) -> Any:
    """'auto', one CIDR, or a list of CIDRs; one validator so errors name the item, not a union branch."""
    if value == "auto":
        return "auto"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected 'auto' or a list of IPv4 CIDRs like [203.0.113.0/24]")
    if not value:
        raise ValueError("list at least one CIDR, or 'auto' for this machine's public IP")
    parsed = []
    for index, item in enumerate(value):
        try:
            parsed.append(_parse_cidr(item))
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}") from None
    return parsed


SshCidrs = Annotated[
    Literal["auto"] | list[ipaddress.IPv4Network],
    PlainValidator(_parse_ssh_cidrs),
    WithJsonSchema(
        {
            "anyOf": [
                {"const": "auto"},
                {"type": "array", "items": {"type": "string", "format": "ipv4network"}, "minItems": 1},
                {"type": "string", "format": "ipv4network"},
            ]
        }
    ),
]


def _on_off(value: Any) -> Any:
    """YAML 1.1 reads `on` / `off` as booleans; map them back to the words the user wrote."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    return value


FastNetworking = Annotated[
    Literal["auto", "on", "off"],
    BeforeValidator(_on_off),
    # Editors read YAML 1.1 too, where `on` / `off` are booleans.
    WithJsonSchema({"enum": ["auto", "on", "off", True, False]}),
]


def _placement_word(cloud: str) -> Any:
    """Accept `false` for 'none', and name this cloud's word when given another cloud's (each
    driver's `placement_word`: AWS cluster, GCP compact, Azure proximity)."""

    def check(value: Any) -> Any:
        from provisioner.drivers import all_drivers, driver_for

        if value is False:
            return "none"
        for other in all_drivers():
            if value == other.placement_word and other.name != cloud:
                raise ValueError(f"{value!r} is {other.name}'s placement; on {cloud} use {driver_for(cloud).placement_word!r} or 'none'")
        return value

    return BeforeValidator(check)


class _CloudNetwork(SpecModel):
    """Firewall and fast-networking choices common to the three clouds."""

    # Each cloud narrows it to a Literal of its own word (the driver's `placement_word`) and 'none'.
    placement: Annotated[str, Field(description="Pack GPU groups close together: the cloud's placement word, or 'none'.")] = "none"

    ssh_cidrs: Annotated[
        SshCidrs,
        Field(
            description="Where SSH (port 22, the only port open from outside) may come from: a list of IPv4 "
            "CIDRs, or 'auto' for this machine's public IP as a /32, resolved at `up` time. Ray's ports "
            "(6379, 8265, 10001, ...) are never opened outside the cluster.",
            examples=[["203.0.113.0/24"], "auto"],
        ),
    ]
    allow_public_ssh: Annotated[
        bool,
        Field(description="Required to list 0.0.0.0/0 in ssh_cidrs; rlcloud still warns on every `up`."),
    ] = False
    fast_networking: Annotated[
        FastNetworking,
        Field(
            description="AWS: EFA (+ENA) on EFA-capable GPU types; GCP: gVNIC; Azure: accelerated networking. "
            "'auto' uses it where the type supports it, 'on' makes it an error where it does not.",
        ),
    ] = "auto"
    use_internal_ips: Annotated[
        bool,
        Field(description="Reach nodes by private IP only (the operator's machine is inside the network). Forced on with EFA."),
    ] = False

    @model_validator(mode="after")
    def _public_ssh(self) -> _CloudNetwork:
        if isinstance(self.ssh_cidrs, list):
            public = [c for c in self.ssh_cidrs if c.prefixlen == 0]
            if public and not self.allow_public_ssh:
                raise ValueError(
                    "ssh_cidrs contains 0.0.0.0/0 (SSH from the whole internet); name your own "
                    "CIDRs or 'auto', or set allow_public_ssh: true if you really mean it"
                )
        return self

    @property
    def public_ssh(self) -> bool:
        return isinstance(self.ssh_cidrs, list) and any(c.prefixlen == 0 for c in self.ssh_cidrs)


class AwsNetwork(_CloudNetwork):
    """AWS networking: security group, VPC/subnet, EFA, cluster placement group."""

    placement: Annotated[
        Literal["cluster", "none"],
        _placement_word("aws"),
        Field(description="'cluster': an EC2 cluster placement group for GPU groups (low-latency, one AZ)."),
    ] = "none"
    vpc_id: Annotated[str | None, Field(description="Existing VPC to use (default: the region's default VPC).", pattern=r"^vpc-[0-9a-f]{8,17}$")] = (
        None
    )
    subnet_id: Annotated[
        str | None,
        Field(description="Existing subnet (must be in `zone`); default: a subnet of the VPC in `zone`.", pattern=r"^subnet-[0-9a-f]{8,17}$"),
    ] = None
    security_group_id: Annotated[
        str | None,
        Field(description="Existing security group to use instead of creating one. Never modified or deleted.", pattern=r"^sg-[0-9a-f]{8,17}$"),
    ] = None


class GcpNetwork(_CloudNetwork):
    """GCP networking: firewall rules on a VPC network, gVNIC, compact placement."""

    placement: Annotated[
        Literal["compact", "none"],
        _placement_word("gcp"),
        Field(description="'compact': a compact placement resource policy for GPU groups."),
    ] = "none"
    network: Annotated[str, Field(description="VPC network name.", pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")] = "default"
    subnetwork: Annotated[str | None, Field(description="Subnetwork name in `region` (custom-mode VPCs).")] = None


class AzureNetwork(_CloudNetwork):
    """Azure networking: NSG, VNet/subnet, accelerated networking, proximity placement group."""

    placement: Annotated[
        Literal["proximity", "none"],
        _placement_word("azure"),
        Field(description="'proximity': a proximity placement group for GPU groups."),
    ] = "none"
    vnet: Annotated[str | None, Field(description="Existing VNet name in the resource group (default: rlcloud creates one).")] = None
    subnet: Annotated[str | None, Field(description="Existing subnet name in `vnet`.")] = None
    address_space: Annotated[str, Field(description="CIDR of the VNet rlcloud creates (when `vnet` is not given).")] = "10.0.0.0/16"

    @field_validator("address_space")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 CIDR like 10.0.0.0/16") from None
        return value

    @model_validator(mode="after")
    def _vnet_with_subnet(self) -> AzureNetwork:
        if (self.vnet is None) != (self.subnet is None):
            raise ValueError("give both `vnet` and `subnet` (an existing subnet of an existing VNet), or neither")
        return self


# --------------------------------------------------------------------------- identities


class AwsIdentity(SpecModel):
    """The IAM identity nodes run as."""

    instance_profile: Annotated[
        str | None,
        Field(
            description="Existing instance profile name or ARN. Default: rlcloud creates a role + profile per "
            "cluster with read/write on the checkpoint prefix and, for the head, only the EC2 actions the "
            "autoscaler needs.",
        ),
    ] = None


# Roles a node identity must never hold: basic roles, service-wide admins (any roles/*.admin,
# e.g. compute.admin, which is what Ray's own GCP bootstrap grants) and roles that hand out
# further privileges.
GCP_ROLE_RE = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]|organizations/[0-9]+)/roles/[A-Za-z0-9_.]+)$")
GCP_FORBIDDEN_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/iam.securityAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountKeyAdmin",
    "roles/iam.serviceAccountTokenCreator",
    "roles/resourcemanager.projectIamAdmin",
}


GCP_SERVICE_ACCOUNT_RE = r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$"


class GcpIdentity(SpecModel):
    """The service accounts nodes run as."""

    service_account: Annotated[
        str | None,
        Field(
            description="Existing service account email the head runs as (and the workers, unless "
            "`worker_service_account` names another). Default: rlcloud creates two per cluster: the head's, "
            "with the autoscaler role, and the workers', with checkpoint access only (no project-wide admin).",
            pattern=GCP_SERVICE_ACCOUNT_RE,
        ),
    ] = None
    worker_service_account: Annotated[
        str | None,
        Field(
            description="Existing service account email the workers run as, with `service_account` for the head. "
            "Workers run model-generated code: give this account checkpoint access only. The head's account "
            "needs iam.serviceAccountUser on it to launch workers as it. Used as is, like `service_account`.",
            pattern=GCP_SERVICE_ACCOUNT_RE,
        ),
    ] = None
    scopes: Annotated[
        list[str],
        Field(description="OAuth scopes on the VMs; IAM roles, not scopes, are what limit access."),
    ] = ["https://www.googleapis.com/auth/cloud-platform"]
    autoscaler_role: Annotated[
        str,
        Field(
            description="Role granted on the project to the head's service account rlcloud creates, so the "
            "head's autoscaler can create, label and delete worker VMs (it also gets iam.serviceAccountUser on "
            "the workers' account only, to launch workers as it). The workers' account never gets it. A custom "
            "role (projects/P/roles/NAME) with fewer permissions works too. Ignored with `service_account`: "
            "rlcloud changes no bindings then.",
        ),
    ] = "roles/compute.instanceAdmin.v1"
    checkpoint_role: Annotated[
        str,
        Field(
            description="Role granted on the gs:// checkpoint bucket only (limited to the checkpoint prefix "
            "when the bucket has uniform bucket-level access), so every node can write checkpoints.",
        ),
    ] = "roles/storage.objectUser"

    @field_validator("autoscaler_role", "checkpoint_role")
    @classmethod
    def _no_admin_roles(cls, value: str) -> str:
        if not GCP_ROLE_RE.match(value):
            raise ValueError(f"{value!r} is not a role name like roles/compute.instanceAdmin.v1 or projects/P/roles/NAME")
        if value in GCP_FORBIDDEN_ROLES or (value.startswith("roles/") and value.endswith(".admin")):
            raise ValueError(f"{value} is too broad for node VMs (anything on them could use it); use a narrower predefined role or a custom role")
        return value

    @model_validator(mode="after")
    def _worker_account_with_head_account(self) -> GcpIdentity:
        # Otherwise rlcloud would create the head's account and have to grant it actAs on the
        # user's worker account: a binding on an account the user brought.
        if self.worker_service_account and not self.service_account:
            raise ValueError("`worker_service_account` needs `service_account` (the head's) too")
        return self


class AzureIdentity(SpecModel):
    """The managed identity the head runs as. Worker VMs never get it: with az:// checkpoints they
    get rlcloud-<name>-worker (the checkpoint container only), otherwise no identity."""

    managed_identity: Annotated[
        str | None,
        Field(
            description="Resource id of an existing user-assigned managed identity for the head. Default: rlcloud "
            "creates one whose role is scoped to the cluster's resource group. Worker VMs never get it.",
            pattern=r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$",
        ),
    ] = None


# --------------------------------------------------------------------------- cluster specs


class ClusterSpecBase(SpecModel):
    """Fields every cluster spec has, whatever the cloud."""

    name: ClusterName
    # Each subclass narrows it to its own name: the tag of the discriminated union of every
    # driver's spec class (provisioner/drivers/, `spec_adapter`).
    cloud: Annotated[str, Field(description="Where the cluster runs: aws, gcp, azure, or local (this machine).")]
    storage: Annotated[StorageSettings, Field(description="Checkpoint storage.")] = StorageSettings()
    ray: Annotated[RaySettings, Field(description="Ray installation and autoscaler settings.")] = RaySettings()

    @field_validator("node_groups", check_fields=False)
    @classmethod
    def _group_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name in RESERVED_GROUP_NAMES:
                raise ValueError(f"{name!r} is reserved for the head node; pick another group name")
            if not GROUP_NAME_RE.match(name):
                raise ValueError(f"group name {name!r}: lowercase letters, digits, '_' and '-', starting with a letter, at most 31")
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> ClusterSpecBase:
        from provisioner.spec.checks import SpecRuleViolations, check_spec

        issues = check_spec(self)
        if issues:
            raise SpecRuleViolations(issues)
        return self

    # Every target has a head and named worker groups; each spec class narrows them to its
    # own node types (cloud instance types, or simulated local nodes).
    head: Annotated[_NodeFields, Field(description="The head node.")]
    node_groups: Annotated[Mapping[str, _GroupScaling], Field(description="Worker node groups by name.")] = {}

    def group_items(self) -> list[tuple[str, Any]]:
        """(name, spec) of every node type, head first."""
        return [("head", self.head), *self.node_groups.items()]


class CloudClusterSpec(ClusterSpecBase):
    """Fields of every cloud cluster (AWS, GCP, Azure); each narrows `network` to its own."""

    region: Annotated[str, Field(description="The cloud's region.")]
    zone: Annotated[str | None, Field(description="Zone in `region`.")] = None
    network: Annotated[_CloudNetwork, Field(description="Firewall, fast networking and placement.")]
    head: Annotated[HeadSpec, Field(description="The head node.")] = HeadSpec()
    node_groups: Annotated[
        dict[str, NodeGroupSpec],
        Field(description="Worker node groups by name, e.g. learner and sampler. May be empty (head only)."),
    ] = {}
    ssh_user: Annotated[str, Field(description="Login user of the image.", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "ubuntu"


class AwsClusterSpec(CloudClusterSpec):
    """A cluster on AWS EC2."""

    cloud: Annotated[Literal["aws"], Field(description="aws")]
    region: Annotated[str, Field(description="AWS region, e.g. us-west-2.", examples=["us-west-2"])]
    zone: Annotated[
        str,
        Field(description="Availability zone in `region`, e.g. us-west-2b. One zone keeps EFA and placement groups valid."),
    ]
    network: Annotated[AwsNetwork, Field(description="Security group, VPC, EFA and placement.")]
    identity: Annotated[AwsIdentity, Field(description="IAM identity of the nodes.")] = AwsIdentity()


class GcpClusterSpec(CloudClusterSpec):
    """A cluster on Google Compute Engine."""

    cloud: Annotated[Literal["gcp"], Field(description="gcp")]
    project: Annotated[
        str,
        Field(description="GCP project id.", pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", examples=["my-rl-project"]),
    ]
    region: Annotated[str, Field(description="GCP region, e.g. us-central1.")]
    zone: Annotated[str, Field(description="Zone in `region`, e.g. us-central1-a.")]
    network: Annotated[GcpNetwork, Field(description="Firewall, VPC network, gVNIC and placement.")]
    identity: Annotated[GcpIdentity, Field(description="Service account of the nodes.")] = GcpIdentity()


class AzureClusterSpec(CloudClusterSpec):
    """A cluster on Azure."""

    cloud: Annotated[Literal["azure"], Field(description="azure")]
    subscription_id: Annotated[
        str,
        Field(
            description="Azure subscription id (a GUID).",
            pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        ),
    ]
    resource_group: Annotated[
        str | None,
        Field(
            description="Existing resource group to deploy into (never deleted by rlcloud). Default: rlcloud "
            "creates rlcloud-<name> and deletes it whole on `down`.",
            pattern=r"^[-\w._()]{1,89}[-\w_()]$",
        ),
    ] = None
    region: Annotated[str, Field(description="Azure location, e.g. eastus.")]
    zone: Annotated[str | None, Field(description="Availability zone '1', '2' or '3' (optional).")] = None
    network: Annotated[AzureNetwork, Field(description="NSG, VNet, accelerated networking and placement.")]
    identity: Annotated[AzureIdentity, Field(description="Managed identity of the head node (workers get their own, storage only, or none).")] = (
        AzureIdentity()
    )

    @model_validator(mode="after")
    def _vnet_needs_its_group(self) -> AzureClusterSpec:
        if self.network.vnet is not None and self.resource_group is None:
            raise ValueError("network.vnet names an existing VNet, which lives in an existing resource group: set `resource_group` to it")
        return self


class LocalClusterSpec(ClusterSpecBase):
    """A cluster on this machine: the real Ray autoscaler with simulated nodes (fake_multinode)."""

    cloud: Annotated[Literal["local"], Field(description="local")]
    head: Annotated[LocalHeadSpec, Field(description="The head node (this machine's `ray start --head`).")] = LocalHeadSpec()
    node_groups: Annotated[
        dict[str, LocalNodeGroupSpec],
        Field(description="Simulated worker node groups by name, e.g. learner and sampler."),
    ] = {}
