"""Does a boot image support gVNIC? A VM with nicType GVNIC on an image without the GVNIC
guest OS feature boots without a working network, so `up` asks before the VMs exist.

A group that must have gVNIC (the machine type requires it, or fast_networking: on) on an
image without it is an error; with fast_networking: auto the group falls back to the
default NIC and the plan says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS
from provisioner.errors import CloudError
from provisioner.images import gcp_node_image
from provisioner.spec.models import GcpClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes

GVNIC_FEATURE = "GVNIC"
_IMAGE_RE = re.compile(r"^(?:https://[^/]+/compute/v1/)?(?:projects/(?P<project>[^/]+)/)?global/images/(?P<family>family/)?(?P<name>[^/]+)$")


@dataclass(frozen=True)
class ImageRef:
    project: str
    name: str
    is_family: bool


def parse_image(image: str, default_project: str) -> ImageRef | None:
    """projects/P/global/images/[family/]NAME (or its full URL); None for other forms."""
    match = _IMAGE_RE.match(image)
    if not match:
        return None
    return ImageRef(project=match.group("project") or default_project, name=match.group("name"), is_family=bool(match.group("family")))


def supports_gvnic(clients: GcpClients, image: str) -> bool | None:
    """True / False from the image's guest OS features; None when the image form is unknown."""
    ref = parse_image(image, clients.project)
    if ref is None:
        return None
    with ERRORS.calls(f"reading image {image}"):
        if ref.is_family:
            found: Any = clients.images.get_from_family(project=ref.project, family=ref.name)
        else:
            found = clients.images.get(project=ref.project, image=ref.name)
    return any(feature.type_ == GVNIC_FEATURE for feature in found.guest_os_features)


def _gvnic_required(spec: GcpClusterSpec, node: ResolvedNode) -> bool:
    assert node.instance is not None
    group_setting = None if node.is_head else spec.node_groups[node.group].fast_networking
    return node.instance.gvnic_required or (group_setting or spec.network.fast_networking) == "on"


def images_without_gvnic(clients: GcpClients, spec: GcpClusterSpec) -> list[str]:
    """Images of gVNIC node types that lack the feature; raises when a type must have it."""
    lacking: list[str] = []
    checked: dict[str, bool | None] = {}
    for node in resolve_nodes(spec):
        if not node.fast_networking:
            continue
        assert node.instance is not None
        image = gcp_node_image(node.image, node.instance.has_gpu)
        if image not in checked:
            checked[image] = supports_gvnic(clients, image)
        if checked[image] is not False:
            continue
        if _gvnic_required(spec, node):
            raise CloudError(
                f"{node.group}: image {image} does not support gVNIC, which {node.instance.name} needs here",
                hint="use an image with the GVNIC guest OS feature (e.g. the Deep Learning VM images, the default)",
            )
        if image not in lacking:
            lacking.append(image)
    return lacking
