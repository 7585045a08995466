"""AWS: EC2 nodes with ENA/EFA and a cluster placement group, S3 checkpoints."""

from __future__ import annotations

from provisioner.catalog import InstanceType
from provisioner.drivers import Driver, FastNetworkingChoice
from provisioner.images import aws_image_problem
from provisioner.refs import AwsRefs
from provisioner.spec.models import AwsClusterSpec


def _efa(choice: FastNetworkingChoice) -> bool:
    inst = choice.instance
    # EFA matters between GPU workers; the head coordinates and needs none.
    if choice.is_head or not inst.has_gpu:
        if choice.group_setting == "on" and not inst.efa_supported:
            raise ValueError(f"{inst.name} does not support EFA")
        return choice.group_setting == "on"
    if choice.setting == "on" and not inst.efa_supported:
        raise ValueError(
            f"fast_networking is 'on' but {inst.name} ({choice.label}) has no EFA; "
            "EFA types include p4d, p4de, p5, p5e, p5en and g5.48xlarge; or use 'auto'"
        )
    return choice.setting != "off" and inst.efa_supported


def _label(inst: InstanceType) -> str:
    return "EFA" if inst.efa_supported else "ENA"


DRIVER = Driver(
    name="aws",
    label="AWS",
    position=0,
    spec_class=AwsClusterSpec,
    refs=AwsRefs,
    compiler="provisioner.compile.aws:compile_aws",
    provisioner="provisioner.clouds.aws.lifecycle:AwsProvisioner",
    backend="provisioner.backends.cloud:CloudBackend",
    extra="aws",
    sdk={"boto3": "boto3", "botocore": "boto3"},
    checkpoint_schemes=("s3",),
    creates_buckets=True,
    catalog=True,
    default_head_type="m6i.2xlarge",
    placement_word="cluster",
    fast_networking_name="EFA",
    fast_networking=_efa,
    fast_networking_label=_label,
    image_problem=aws_image_problem,
)
