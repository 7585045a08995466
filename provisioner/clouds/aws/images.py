"""Boot images: aliases resolve through AWS's public SSM parameters at `up` time (AMI ids are
regional and change with every release); an explicit AMI id is used as is. Either way the
AMI is described once, for its root device name (where the encrypted root volume goes) and
its ENA flag (ENA-required instance types refuse to boot an AMI without it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provisioner.clouds.aws.errors import ERRORS
from provisioner.errors import CloudError
from provisioner.images import aws_image_ssm_parameter

SSM_BATCH = 10  # GetParameters takes at most 10 names


@dataclass(frozen=True)
class Image:
    written: str  # as in the spec; "" for the default image
    ami_id: str
    name: str
    root_device: str
    ena_support: bool  # EnaSupport absent means the AMI is not ENA-enabled


def _resolve_aliases(ssm: Any, parameters: dict[str, str], region: str) -> dict[str, str]:
    """written image -> AMI id, for images given as aliases / ssm: paths."""
    by_param: dict[str, str] = {}
    names = sorted(set(parameters.values()))
    for start in range(0, len(names), SSM_BATCH):
        answer = ssm.get_parameters(Names=names[start : start + SSM_BATCH])
        by_param.update({p["Name"]: p["Value"] for p in answer["Parameters"]})
        missing = answer.get("InvalidParameters") or []
        if missing:
            written = [w for w, p in parameters.items() if p in missing]
            raise CloudError(
                f"image {', '.join(repr(w or 'default') for w in written)}: public SSM parameter {missing[0]} does not exist in {region}",
                hint="use an AMI id (image: ami-...) or another alias",
            )
    return {written: by_param[param] for written, param in parameters.items()}


def resolve_images(ec2: Any, ssm: Any, written_images: Iterable[str | None], region: str) -> dict[str, Image]:
    """Every image the spec's node types use -> Image (read-only; plan and up both call it)."""
    written = sorted({w or "" for w in written_images})
    explicit = {w: w for w in written if w.startswith("ami-")}
    aliases = {w: aws_image_ssm_parameter(w or None) for w in written if not w.startswith("ami-")}
    with ERRORS.calls(f"resolving image aliases in {region}"):
        ami_of = {**explicit, **_resolve_aliases(ssm, {w: p for w, p in aliases.items() if p}, region)}
    ids = sorted(set(ami_of.values()))
    with ERRORS.calls(f"describing AMIs {', '.join(ids)}"):
        described = {i["ImageId"]: i for i in ec2.describe_images(ImageIds=ids)["Images"]} if ids else {}
    images: dict[str, Image] = {}
    for w, ami in ami_of.items():
        info = described.get(ami)
        if info is None:
            raise CloudError(f"AMI {ami} (image {w or 'default'!r}) does not exist in {region} or is not visible to this account")
        if info.get("State", "available") != "available":
            raise CloudError(f"AMI {ami} is {info.get('State')}, not available")
        images[w] = Image(
            written=w,
            ami_id=ami,
            name=info.get("Name", ""),
            root_device=info.get("RootDeviceName") or "/dev/sda1",
            ena_support=info.get("EnaSupport") is True,
        )
    return images
