"""The cluster's security group: every protocol between members of the group (Ray's ports,
NCCL, and EFA, which needs all traffic to and from the group itself in both directions) and
SSH from the spec's CIDRs. Nothing else reaches the nodes from outside: Ray's ports are never
opened, which is what keeps the Jobs API (remote code execution by design) private.

rlcloud owns this group, so `up` makes its rules exactly the desired set, revoking any rule
added by hand (an opened 8265 is a security hole, not a preference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from provisioner import naming
from provisioner.clouds import ownership
from provisioner.clouds.aws import tags
from provisioner.clouds.reconcile import Resource
from provisioner.errors import CloudError

KIND = "security_group"
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


def _changes(group: dict[str, Any], ssh_cidrs: Iterable[str]) -> list[str]:
    have, want = current_rules(group), desired_rules(group["GroupId"], ssh_cidrs)
    return [f"+ {r.text()}" for r in sorted(want - have, key=Rule.text)] + [f"- {r.text()}" for r in sorted(have - want, key=Rule.text)]


def _apply_rules(ec2: Any, group: dict[str, Any], ssh_cidrs: Iterable[str]) -> dict[str, Any]:
    """Make the group's rules exactly the desired set."""
    group_id = group["GroupId"]
    have, want = current_rules(group), desired_rules(group_id, ssh_cidrs)
    # Additions first: a changed SSH CIDR never leaves a moment with no way in.
    for verb, rules in (("authorize", want - have), ("revoke", have - want)):
        for direction in ("ingress", "egress"):
            batch = [r.permission() for r in sorted(rules, key=Rule.text) if r.egress == (direction == "egress")]
            if batch:
                getattr(ec2, f"{verb}_security_group_{direction}")(GroupId=group_id, IpPermissions=batch)
    return group


def delete_command(region: str, group_id: str) -> str:
    return f"aws ec2 --region {region} delete-security-group --group-id {group_id}"


def declare(
    ec2: Any,
    cluster: str,
    region: str,
    vpc_id: str,
    ssh_cidrs: list[str] | None,
    record_now: Callable[[str, dict[str, Any]], None],
) -> Resource[dict[str, Any]]:
    """The group `up` makes. `ssh_cidrs` None while planning without them resolved (then its
    rules are not compared). `record_now(id, extra)` records the group in the cluster state
    right after CreateSecurityGroup, before its rules are set."""
    name = naming.aws_security_group(cluster)
    extra = {"vpc_id": vpc_id, "name": name}

    def read() -> dict[str, Any] | None:
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}]
        groups: list[dict[str, Any]] = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
        return groups[0] if groups else None

    def create() -> dict[str, Any]:
        assert ssh_cidrs is not None, "`up` resolves ssh_cidrs before applying"
        group_id = ec2.create_security_group(
            GroupName=name,
            Description=f"rlcloud cluster {cluster}: members to each other, SSH from the spec's CIDRs",
            VpcId=vpc_id,
            TagSpecifications=tags.tag_specification("security-group", cluster, name),
        )["GroupId"]
        record_now(group_id, extra)
        # A new group allows all egress and nothing else.
        fresh = {"GroupId": group_id, "IpPermissions": [], "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": EVERYWHERE}]}]}
        return _apply_rules(ec2, fresh, ssh_cidrs)

    def update(group: dict[str, Any]) -> dict[str, Any]:
        assert ssh_cidrs is not None
        return _apply_rules(ec2, group, ssh_cidrs)

    def drift(group: dict[str, Any]) -> str | None:
        if ssh_cidrs is None:
            return None
        return "; ".join(_changes(group, ssh_cidrs)) or None

    cidrs = ", ".join(ssh_cidrs or ["(ssh_cidrs)"])
    return Resource(
        kind=KIND,
        name=name,
        read=read,
        create=create,
        update=update,
        delete=lambda group: ec2.delete_security_group(GroupId=group["GroupId"]),
        drift=drift,
        owned=lambda group: ownership.tags_say_ours(tags.as_dict(group.get("Tags")), cluster),
        ident=lambda group: str(group["GroupId"]),
        extra=lambda _: extra,
        detail=f"all traffic within the group; SSH from {cidrs}; no Ray port from outside",
        foreign_hint=tags.foreign_hint(cluster, "name it in network.security_group_id to use it as is, or delete / rename it"),
    )


def declare_users(ec2: Any, group_id: str, vpc_id: str) -> Resource[dict[str, Any]]:
    """A group the user named (network.security_group_id): it must exist in the cluster's
    VPC; it is used as is, never changed or deleted."""

    def read() -> dict[str, Any] | None:
        groups: list[dict[str, Any]] = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroups"]
        if groups and groups[0]["VpcId"] != vpc_id:
            raise CloudError(f"security group {group_id} is in {groups[0]['VpcId']}, but the cluster's subnet is in {vpc_id}")
        return groups[0] if groups else None

    return Resource(kind=KIND, name=group_id, read=read, detail="yours: used as is, never modified", missing_hint="check network.security_group_id")


def declare_found(ec2: Any, cluster: str, region: str, group: dict[str, Any]) -> Resource[dict[str, Any]]:
    """A group `down` found (by tag or in the state), named by its id; deleted if ours."""
    group_id = str(group["GroupId"])
    return Resource(
        kind=KIND,
        name=group_id,
        read=lambda: group,
        delete=lambda _: ec2.delete_security_group(GroupId=group_id),
        owned=lambda found: ownership.tags_say_ours(tags.as_dict(found.get("Tags")), cluster),
        ident=lambda _: group_id,
        delete_command=delete_command(region, group_id),
    )


def find_for_down(ec2: Any, cluster: str, recorded: Iterable[str]) -> list[dict[str, Any]]:
    """The cluster's groups: tagged by rlcloud, or recorded by an earlier `up` and still there."""
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(Filters=tags.cluster_filter(cluster))["SecurityGroups"]}
    missing = sorted(set(recorded) - set(groups))
    if missing:
        found = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": missing}])["SecurityGroups"]
        groups.update({g["GroupId"]: g for g in found})
    return [groups[k] for k in sorted(groups)]
