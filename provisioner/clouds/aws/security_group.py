"""The cluster's security group: every protocol between members of the group (Ray's ports,
NCCL, and EFA, which needs all traffic to and from the group itself in both directions) and
SSH from the spec's CIDRs. Nothing else reaches the nodes from outside: Ray's ports are never
opened, which is what keeps the Jobs API (remote code execution by design) private.

rlcloud owns this group, so `up` makes its rules exactly the desired set, revoking any rule
added by hand (an opened 8265 is a security hole, not a preference).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from provisioner import naming
from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import aws_errors
from provisioner.clouds.aws.inspection import SECURITY_GROUP, Inspection, Recorder
from provisioner.state import CloudResource

SSH_PORT = 22
EVERYWHERE = "0.0.0.0/0"


class Rule(NamedTuple):
    """One flattened rule: protocol, port range (None for all traffic) and a peer."""

    egress: bool
    protocol: str
    from_port: int | None
    to_port: int | None
    peer: str  # "sg-..." for a group, a CIDR otherwise

    def permission(self) -> dict[str, Any]:
        perm: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.from_port is not None:
            perm.update(FromPort=self.from_port, ToPort=self.to_port)
        if self.peer.startswith("sg-"):
            perm["UserIdGroupPairs"] = [{"GroupId": self.peer, "Description": "rlcloud: cluster members"}]
        elif ":" in self.peer:
            perm["Ipv6Ranges"] = [{"CidrIpv6": self.peer}]
        else:
            perm["IpRanges"] = [{"CidrIp": self.peer, "Description": "rlcloud: SSH" if self.from_port == SSH_PORT else "rlcloud"}]
        return perm

    def text(self) -> str:
        what = (
            "all traffic"
            if self.from_port is None
            else f"{self.protocol} {self.from_port}" + (f"-{self.to_port}" if self.to_port != self.from_port else "")
        )
        return f"{'egress' if self.egress else 'ingress'} {what} {'to' if self.egress else 'from'} {self.peer}"


def desired_rules(group_id: str, ssh_cidrs: Iterable[str]) -> set[Rule]:
    rules = {
        Rule(False, "-1", None, None, group_id),  # members talk to each other on every port
        Rule(True, "-1", None, None, group_id),  # EFA also needs the outbound self rule
        Rule(True, "-1", None, None, EVERYWHERE),  # nodes install packages and reach S3
    }
    rules |= {Rule(False, "tcp", SSH_PORT, SSH_PORT, cidr) for cidr in ssh_cidrs}
    return rules


def _flatten(permissions: list[dict[str, Any]], egress: bool) -> set[Rule]:
    rules: set[Rule] = set()
    for perm in permissions:
        proto = str(perm.get("IpProtocol", "-1"))
        ports = (None, None) if proto == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        peers = [p["GroupId"] for p in perm.get("UserIdGroupPairs", [])]
        peers += [r["CidrIp"] for r in perm.get("IpRanges", [])]
        peers += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
        peers += [p["PrefixListId"] for p in perm.get("PrefixListIds", [])]
        rules |= {Rule(egress, proto, ports[0], ports[1], peer) for peer in peers}
    return rules


def current_rules(group: dict[str, Any]) -> set[Rule]:
    return _flatten(group.get("IpPermissions", []), False) | _flatten(group.get("IpPermissionsEgress", []), True)


def find(ec2: Any, vpc_id: str, name: str) -> dict[str, Any] | None:
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}])[
        "SecurityGroups"
    ]
    return groups[0] if groups else None


def inspect(ec2: Any, cluster: str, vpc_id: str, ssh_cidrs: list[str] | None) -> Inspection:
    """`ssh_cidrs` None while planning without them resolved ('auto' is resolved at `up`)."""
    name = naming.aws_security_group(cluster)
    with aws_errors(f"looking up security group {name}"):
        group = find(ec2, vpc_id, name)
    if group is None:
        cidrs = ", ".join(ssh_cidrs or ["(ssh_cidrs)"])
        return Inspection(SECURITY_GROUP, name, "create", f"all traffic within the group; SSH from {cidrs}; no Ray port from outside")
    tags.require_ours(
        group.get("Tags"),
        cluster,
        f"security group {name} ({group['GroupId']}) in {vpc_id}",
        hint="name it in network.security_group_id to use it as is, or delete / rename it",
    )
    found = Inspection(SECURITY_GROUP, f"{name} ({group['GroupId']})", "keep", current=group)
    if ssh_cidrs is not None:
        have, want = current_rules(group), desired_rules(group["GroupId"], ssh_cidrs)
        found.changes = [f"+ {r.text()}" for r in sorted(want - have, key=Rule.text)] + [f"- {r.text()}" for r in sorted(have - want, key=Rule.text)]
        if found.changes:
            found.action = "update"
    return found


def ensure(ec2: Any, cluster: str, vpc_id: str, ssh_cidrs: list[str], found: Inspection, record: Recorder) -> str:
    name = naming.aws_security_group(cluster)
    group = found.current
    if group is None:
        with aws_errors(f"creating security group {name}"):
            group_id = ec2.create_security_group(
                GroupName=name,
                Description=f"rlcloud cluster {cluster}: members to each other, SSH from the spec's CIDRs",
                VpcId=vpc_id,
                TagSpecifications=tags.tag_specification("security-group", cluster, name),
            )["GroupId"]
        record(CloudResource(kind=SECURITY_GROUP, id=group_id, extra={"vpc_id": vpc_id, "name": name}))
        group = {"GroupId": group_id, "IpPermissions": [], "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": EVERYWHERE}]}]}
    else:
        group_id = group["GroupId"]
        record(CloudResource(kind=SECURITY_GROUP, id=group_id, extra={"vpc_id": vpc_id, "name": name}))
    have, want = current_rules(group), desired_rules(group_id, ssh_cidrs)
    _apply_rules(ec2, group_id, name, add=want - have, remove=have - want)
    return str(group_id)


def _apply_rules(ec2: Any, group_id: str, name: str, *, add: set[Rule], remove: set[Rule]) -> None:
    # Additions first: a changed SSH CIDR never leaves a moment with no way in.
    for verb, rules in (("authorize", add), ("revoke", remove)):
        for direction in ("ingress", "egress"):
            batch = [r.permission() for r in sorted(rules, key=Rule.text) if r.egress == (direction == "egress")]
            if batch:
                with aws_errors(f"{verb} {direction} rules of security group {name}"):
                    getattr(ec2, f"{verb}_security_group_{direction}")(GroupId=group_id, IpPermissions=batch)


def delete(ec2: Any, group_id: str) -> None:
    ec2.delete_security_group(GroupId=group_id)
