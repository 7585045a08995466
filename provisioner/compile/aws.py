"""AWS spec -> Ray autoscaler config (pure).

What Ray's AWS bootstrap would otherwise do for us, and why we do not let it:
- it creates an `ray-autoscaler-v1` instance profile with AmazonEC2FullAccess and
  AmazonS3FullAccess: we reference our own least-privilege profile on every node type;
- it creates a security group open to SSH from 0.0.0.0/0: we reference our own group;
- it creates a key pair and keeps `cache_stopped_nodes: true`: we pass our own key and set
  `cache_stopped_nodes: false` so `down` terminates (stopped nodes still bill for EBS).
Ray's bootstrap skips each step when the field is present in every node type, which is
what `rlcloud up` relies on.
"""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.compile.common import base_config, node_type_entry
from provisioner.compile.context import CompileContext, pending
from provisioner.images import AWS_DEFAULT_IMAGE
from provisioner.refs import AwsRefs
from provisioner.spec.models import AwsClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes

DEFAULT_ROOT_DEVICE = "/dev/sda1"  # Ubuntu AMIs, the DLAMI included


def _tags(spec: AwsClusterSpec) -> list[dict[str, str]]:
    return [{"Key": naming.TAG_KEY, "Value": spec.name}]


def _image(node: ResolvedNode, refs: AwsRefs) -> str:
    written = node.image or ""
    if written.startswith("ami-"):
        return written
    return refs.images.get(written) or pending(f"ami:{written or AWS_DEFAULT_IMAGE}")


def _network_interfaces(node: ResolvedNode, subnet: str, sg: str, refs: AwsRefs) -> list[dict[str, Any]]:
    """One EFA interface per network card, all in one subnet; card 0 is the primary (device 0)."""
    assert node.instance is not None
    cards = refs.network_cards.get(node.instance.name, node.instance.max_network_cards)
    return [
        {
            "NetworkCardIndex": card,
            "DeviceIndex": 0 if card == 0 else 1,
            "InterfaceType": "efa",
            "SubnetId": subnet,
            "Groups": [sg],
            "DeleteOnTermination": True,
        }
        for card in range(cards)
    ]


def _instance_profile(spec: AwsClusterSpec, node: ResolvedNode, refs: AwsRefs) -> str:
    """The user's profile on every node; else the head's own profile on the head, the workers' elsewhere."""
    if spec.identity.instance_profile:
        return refs.instance_profile or spec.identity.instance_profile
    if node.is_head:
        return refs.head_instance_profile or refs.instance_profile or naming.aws_head_instance_profile(spec.name)
    return refs.instance_profile or naming.aws_instance_profile(spec.name)


def use_internal_ips(spec: AwsClusterSpec, nodes: list[ResolvedNode] | None = None) -> bool:
    """Instances with several network interfaces get no public IP (an AWS rule), so EFA
    clusters are reached on private IPs."""
    return spec.network.use_internal_ips or any(n.fast_networking for n in (nodes if nodes is not None else resolve_nodes(spec)))


def node_config(spec: AwsClusterSpec, node: ResolvedNode, refs: AwsRefs) -> dict[str, Any]:
    assert node.instance is not None
    image = _image(node, refs)
    subnet = refs.subnet_id or spec.network.subnet_id or pending("subnet_id")
    sg = spec.network.security_group_id or refs.security_group_id or pending("security_group_id")
    profile = _instance_profile(spec, node, refs)
    tags = _tags(spec)
    config: dict[str, Any] = {
        "InstanceType": node.instance.name,
        "ImageId": image,
        "KeyName": naming.aws_key_pair(spec.name),
        "IamInstanceProfile": {"Arn": profile} if profile.startswith("arn:") else {"Name": profile},
        "BlockDeviceMappings": [
            {
                "DeviceName": refs.root_device_names.get(image, DEFAULT_ROOT_DEVICE),
                "Ebs": {
                    "VolumeSize": node.disk_gb,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        # Ray merges these with its own instance tags; volumes and ENIs get ours too, so the
        # sweep after `ray down` can find anything an instance left behind.
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
            {"ResourceType": "network-interface", "Tags": tags},
        ],
        # IMDSv2 only: a process tricked into fetching a URL cannot read the node's credentials.
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
    }
    if node.fast_networking:
        # Ray refuses SubnetIds / SecurityGroupIds next to NetworkInterfaces.
        config["NetworkInterfaces"] = _network_interfaces(node, subnet, sg, refs)
    else:
        config["SubnetIds"] = [subnet]
        config["SecurityGroupIds"] = [sg]
    if node.placement:
        config["Placement"] = {"GroupName": naming.aws_placement_group(spec.name)}
    if node.spot:
        # Tagged too, so the sweep after `ray down` can cancel a request still open.
        config["TagSpecifications"].append({"ResourceType": "spot-instances-request", "Tags": tags})
        config["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    return config


def compile_aws(spec: AwsClusterSpec, ctx: CompileContext, refs: AwsRefs | None = None) -> dict[str, Any]:
    refs = refs or AwsRefs()
    nodes = resolve_nodes(spec)
    config = base_config(spec, nodes, ctx)
    config["provider"] = {
        "type": "aws",
        "region": spec.region,
        "availability_zone": spec.zone,
        "cache_stopped_nodes": False,
        "use_internal_ips": use_internal_ips(spec, nodes),
    }
    config["auth"] = {"ssh_user": spec.ssh_user, "ssh_private_key": str(ctx.ssh_private_key)}
    for node in nodes:
        config["available_node_types"][node.ray_name] = node_type_entry(node, node_config(spec, node, refs))
    return config
