"""An inventory of an AWS account, independent of rlcloud's own sweep: every service rlcloud
uses, listed in full and filtered here, so a resource rlcloud forgot to look for still shows."""

from __future__ import annotations

from typing import Any

from tests.aws.conftest import AwsAccount

CLUSTER_TAG = "rlcloud-cluster"
RAY_TAG = "ray-cluster-name"


def _tagged(tags: list[dict[str, str]] | None, cluster: str) -> bool:
    return any(t["Key"] in (CLUSTER_TAG, RAY_TAG) and t["Value"] == cluster for t in tags or [])


def leftovers(aws: AwsAccount, cluster: str, *, keep_bucket: str | None = None) -> list[str]:
    """Everything in the account that belongs to `cluster` (by tag or rlcloud's names).
    `aws` is the session account or the cloud box: anything with client() and placement_groups()."""
    ec2, iam, s3 = aws.client("ec2"), aws.client("iam"), aws.client("s3")
    prefix = f"rlcloud-{cluster}"
    found: list[str] = []
    cluster_instances: set[str] = set()  # in any state: a terminated one's interfaces must go too
    for reservation in ec2.describe_instances()["Reservations"]:
        for inst in reservation["Instances"]:
            if not _tagged(inst.get("Tags"), cluster):
                continue
            cluster_instances.add(inst["InstanceId"])
            if inst["State"]["Name"] != "terminated":
                found.append(f"instance {inst['InstanceId']} ({inst['State']['Name']})")
    groups = ec2.describe_security_groups()["SecurityGroups"]
    ours = {g["GroupId"] for g in groups if g["GroupName"].startswith(prefix) or _tagged(g.get("Tags"), cluster)}
    found += [f"security group {g}" for g in sorted(ours)]
    for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]:
        attached_to = eni.get("Attachment", {}).get("InstanceId")
        if _tagged(eni.get("TagSet"), cluster) or {g["GroupId"] for g in eni.get("Groups", [])} & ours or attached_to in cluster_instances:
            found.append(f"network interface {eni['NetworkInterfaceId']}")
    found += [f"volume {v['VolumeId']}" for v in ec2.describe_volumes()["Volumes"] if _tagged(v.get("Tags"), cluster)]
    found += [
        f"key pair {k['KeyName']}" for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"].startswith(prefix) or _tagged(k.get("Tags"), cluster)
    ]
    found += [
        f"spot request {r['SpotInstanceRequestId']}"
        for r in ec2.describe_spot_instance_requests()["SpotInstanceRequests"]
        if _tagged(r.get("Tags"), cluster) and r["State"] in ("open", "active")
    ]
    found += [
        f"placement group {g['GroupName']}" for g in aws.placement_groups() if g["GroupName"].startswith(prefix) or _tagged(g.get("Tags"), cluster)
    ]
    for role in iam.list_roles()["Roles"]:
        tags = iam.get_role(RoleName=role["RoleName"])["Role"].get("Tags")
        if role["RoleName"].startswith(prefix) or _tagged(tags, cluster):
            found.append(f"iam role {role['RoleName']}")
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:
        if profile["InstanceProfileName"].startswith(prefix) or _tagged(profile.get("Tags"), cluster):
            found.append(f"instance profile {profile['InstanceProfileName']}")
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        if name == keep_bucket:
            continue
        try:
            tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except s3.exceptions.ClientError:
            tags = []
        if _tagged(tags, cluster):
            found.append(f"bucket {name}")
    # A second opinion: the Resource Groups Tagging API over every service it covers.
    tagging = aws.client("resourcegroupstaggingapi")
    for mapping in tagging.get_resources(TagFilters=[{"Key": CLUSTER_TAG, "Values": [cluster]}])["ResourceTagMappingList"]:
        arn = mapping["ResourceARN"]
        # instances were checked above by state (terminated ones stay listed for a while)
        if ":instance/" not in arn and not (keep_bucket and arn.endswith(f":::{keep_bucket}")):
            found.append(f"tagged {arn}")
    return found


def instance_ids(aws: AwsAccount, cluster: str) -> dict[str, Any]:
    return {
        i["InstanceId"]: i for r in aws.client("ec2").describe_instances()["Reservations"] for i in r["Instances"] if _tagged(i.get("Tags"), cluster)
    }


def inventory(aws: AwsAccount) -> set[str]:
    """Every live resource of the kinds a cluster can leave, whoever made it and whatever its
    name: diff two of these to see what a tool left behind without knowing its naming."""
    ec2, iam, s3 = aws.client("ec2"), aws.client("iam"), aws.client("s3")
    found = {
        f"instance {i['InstanceId']}"
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    }
    found |= {f"security group {g['GroupName']}" for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"}
    found |= {f"network interface {n['NetworkInterfaceId']}" for n in ec2.describe_network_interfaces()["NetworkInterfaces"]}
    found |= {f"volume {v['VolumeId']}" for v in ec2.describe_volumes()["Volumes"]}
    found |= {f"key pair {k['KeyName']}" for k in ec2.describe_key_pairs()["KeyPairs"]}
    found |= {f"placement group {g['GroupName']}" for g in aws.placement_groups()}
    found |= {f"iam role {r['RoleName']}" for r in iam.list_roles()["Roles"]}
    found |= {f"instance profile {p['InstanceProfileName']}" for p in iam.list_instance_profiles()["InstanceProfiles"]}
    found |= {f"bucket {b['Name']}" for b in s3.list_buckets()["Buckets"]}
    return found
