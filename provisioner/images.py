"""Default boot images per cloud and the aliases users may write in `image:`.

AWS images are regional ids, so aliases name public SSM parameters that `up` resolves in the
cluster's region. GCP image families and Azure marketplace URNs are global and used as is.
"""

from __future__ import annotations

# AWS: alias -> public SSM parameter holding the current AMI id of that image.
AWS_IMAGE_ALIASES: dict[str, str] = {
    # Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04): NVIDIA driver, CUDA, EFA
    # installer and NCCL OFI plugin; also runs on CPU instances, so heads and workers match.
    "deep-learning-base": "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
    "ubuntu-22.04": "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
    "ubuntu-24.04": "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
}
AWS_DEFAULT_IMAGE = "deep-learning-base"


def aws_image_ssm_parameter(image: str | None) -> str | None:
    """The SSM parameter to resolve for `image`, or None when it is already an AMI id."""
    image = image or AWS_DEFAULT_IMAGE
    if image.startswith("ami-"):
        return None
    if image.startswith("ssm:"):
        return image[len("ssm:") :]
    return AWS_IMAGE_ALIASES[image]


# Why an image cannot boot a node (None when it can), checked at spec time so a typo fails
# `validate`, not `up` half-way or `render` with a traceback. Each cloud's driver names its own.


def aws_image_problem(image: str) -> str | None:
    if image.startswith("ami-") or image.startswith("ssm:/") or image in AWS_IMAGE_ALIASES:
        return None
    return f"expected an AMI id (ami-...), ssm:/parameter/path, or one of: {', '.join(AWS_IMAGE_ALIASES)}"


def azure_image_problem(image: str) -> str | None:
    if len(image.split(":")) == 4 and all(image.split(":")):
        return None
    return f"expected publisher:offer:sku:version, e.g. {AZURE_GPU_IMAGE}"


# GCP: Deep Learning VM images carry the NVIDIA driver and support gVNIC.
GCP_GPU_IMAGE = "projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570"
GCP_CPU_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"


def gcp_node_image(image: str | None, has_gpu: bool) -> str:
    """The boot image of a GCP node type: the spec's, else the GPU or CPU default."""
    return image or (GCP_GPU_IMAGE if has_gpu else GCP_CPU_IMAGE)


# Azure: publisher:offer:sku:version. The Ubuntu HPC image has the NVIDIA driver, CUDA and
# the InfiniBand stack ND-series VMs use; the plain Ubuntu image serves CPU heads.
AZURE_GPU_IMAGE = "microsoft-dsvm:ubuntu-hpc:2204:latest"
AZURE_CPU_IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"


def azure_image_parts(image: str) -> dict[str, str]:
    """'publisher:offer:sku:version' -> Ray's azure_arm_parameters image keys."""
    publisher, offer, sku, version = image.split(":")
    return {"imagePublisher": publisher, "imageOffer": offer, "imageSku": sku, "imageVersion": version}
