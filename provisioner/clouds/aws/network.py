"""Where the cluster's nodes go: the spec's VPC/subnet, or the region's default VPC and a
subnet of it in the spec's zone. rlcloud never creates or changes networks; it only reads.

One subnet for every node keeps EFA (which needs all interfaces in one subnet and AZ) and
the cluster placement group (one AZ) valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.clouds.aws.errors import ERRORS
from provisioner.errors import CloudError
from provisioner.spec.models import AwsClusterSpec


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_id: str
    zone: str
    vpc_is_default: bool
    subnet_chosen: bool  # True when rlcloud picked the subnet (the spec named none)


def _default_vpc(ec2: Any, region: str) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise CloudError(
            f"region {region} has no default VPC",
            hint="name an existing VPC and subnet in the spec (network.vpc_id, network.subnet_id)",
        )
    return str(vpcs[0]["VpcId"])


def _rank(subnet: dict[str, Any]) -> tuple[bool, bool, int]:
    """Default-for-AZ first, then public-IP-on-launch, then the most free addresses."""
    return (not subnet.get("DefaultForAz", False), not subnet.get("MapPublicIpOnLaunch", False), -int(subnet.get("AvailableIpAddressCount", 0)))


def _check_public(subnet: dict[str, Any], use_internal_ips: bool) -> None:
    # Ray's AWS bootstrap refuses a subnet that maps no public IP unless use_internal_ips is on.
    if not use_internal_ips and not subnet.get("MapPublicIpOnLaunch", False):
        raise CloudError(
            f"subnet {subnet['SubnetId']} gives instances no public IP, so this machine could not reach the head",
            hint="set network.use_internal_ips: true (when this machine is inside the VPC), or use a public subnet",
        )


def resolve_network(ec2: Any, spec: AwsClusterSpec, use_internal_ips: bool) -> Network:
    """Read-only: the VPC and subnet the cluster uses (same answer for plan and up)."""
    net = spec.network
    with ERRORS.calls(f"looking up the network of cluster {spec.name} in {spec.region}"):
        if net.subnet_id:
            found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [net.subnet_id]}])["Subnets"]
            if not found:
                raise CloudError(f"subnet {net.subnet_id} (network.subnet_id) does not exist in {spec.region}")
            subnet = found[0]
            if subnet["AvailabilityZone"] != spec.zone:
                raise CloudError(
                    f"subnet {net.subnet_id} is in {subnet['AvailabilityZone']}, but the spec's zone is {spec.zone}",
                    hint="set `zone` to the subnet's zone, or name a subnet in the zone",
                )
            if net.vpc_id and subnet["VpcId"] != net.vpc_id:
                raise CloudError(f"subnet {net.subnet_id} belongs to {subnet['VpcId']}, not to network.vpc_id {net.vpc_id}")
            _check_public(subnet, use_internal_ips)
            vpc_id = subnet["VpcId"]
            is_default = bool(ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0].get("IsDefault", False))
            return Network(vpc_id=vpc_id, subnet_id=subnet["SubnetId"], zone=spec.zone, vpc_is_default=is_default, subnet_chosen=False)
        if net.vpc_id:
            if not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])["Vpcs"]:
                raise CloudError(f"VPC {net.vpc_id} (network.vpc_id) does not exist in {spec.region}")
            vpc_id, is_default = net.vpc_id, False
        else:
            vpc_id, is_default = _default_vpc(ec2, spec.region), True
        subnets = ec2.describe_subnets(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "availability-zone", "Values": [spec.zone]},
                {"Name": "state", "Values": ["available"]},
            ]
        )["Subnets"]
        usable = [s for s in subnets if use_internal_ips or s.get("MapPublicIpOnLaunch", False)]
        if not usable:
            what = "subnet" if use_internal_ips else "subnet that gives instances public IPs"
            raise CloudError(
                f"VPC {vpc_id} has no {what} in {spec.zone}",
                hint=f"create one (e.g. `aws ec2 create-default-subnet --availability-zone {spec.zone}`), or name one in network.subnet_id",
            )
        best = sorted(usable, key=_rank)[0]
        return Network(vpc_id=vpc_id, subnet_id=best["SubnetId"], zone=spec.zone, vpc_is_default=is_default, subnet_chosen=True)
