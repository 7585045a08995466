"""`rlcloud plan / up --provision-only / down` for AWS through the real CLI, against moto
server: every template, idempotence, what stays and what goes, resources the user brought."""

from __future__ import annotations

import stat

import pytest

from provisioner import naming
from provisioner.api import templates
from provisioner.state import delete_state, load_state
from tests.aws.conftest import OPERATOR_IP, AwsAccount
from tests.aws.leftovers import leftovers
from tests.support.cli import run_cli
from tests.support.specs import AWS

AWS_TEMPLATES = {t.name: t.text for t in templates() if t.name.startswith("aws-")}
SPECS = {"tests-spec": AWS, **AWS_TEMPLATES}


def _name(text: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("name:"))


def up(spec: object, *extra: str) -> str:
    result = run_cli("up", str(spec), "--yes", "--provision-only", *extra)
    assert result.code == 0, result.text
    return result.text


def plan_actions(spec: object) -> dict[str, str]:
    result = run_cli("plan", str(spec))
    assert result.code == 0, result.text
    rows = [
        line.split() for line in result.out.splitlines() if line.startswith("  ") and line.split()[0] in {"create", "keep", "update", "delete", "use"}
    ]
    return {f"{row[1]} {row[2]}": row[0] for row in rows}


# The mutating calls of a first `up` of tests/support/specs.AWS, in order: the apply order the
# failure tests walk through and the count the benchmark reports.
FIRST_UP_CALLS = [
    "ec2:ImportKeyPair",
    "ec2:CreateSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:CreatePlacementGroup",
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "s3:CreateBucket",
    "s3:PutBucketTagging",
    "s3:PutPublicAccessBlock",
    "s3:PutBucketEncryption",
    "s3:PutBucketVersioning",
    "s3:PutBucketPolicy",
    "ec2:RunInstances",  # dry run: EC2 accepts the new head profile
    "ec2:RunInstances",  # dry run: and the worker profile
]


@pytest.mark.parametrize("which", sorted(SPECS))
def test_up_then_plan_is_keep_only_then_down_leaves_nothing(aws: AwsAccount, which: str) -> None:
    text = SPECS[which]
    spec, cluster = aws.spec(text), _name(text)

    first = plan_actions(spec)
    assert aws.calls.mutating() == [], "plan must not change anything"
    assert "create" in first.values() and set(first.values()) <= {"create", "use"}

    up(spec)
    key = naming.state_dir(cluster) / "ssh_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert set(plan_actions(spec).values()) <= {"keep", "use"}

    aws.calls.clear()
    again = up(spec)
    assert aws.calls.mutating() == [], f"the second up changed something: {aws.calls.mutating()}"
    assert "creating" not in again and "updating" not in again

    down = run_cli("down", str(spec), "--yes", "--purge-storage")
    assert down.code == 0, down.text
    assert leftovers(aws, cluster) == []
    state = load_state(cluster)
    assert state is not None and state.status == "down" and state.resources == []


def test_first_up_makes_exactly_these_calls(aws: AwsAccount) -> None:
    up(aws.spec(AWS))
    assert aws.calls.mutating() == FIRST_UP_CALLS


def test_down_keeps_the_checkpoint_bucket_and_its_data_until_purged(aws: AwsAccount) -> None:
    spec = aws.spec(AWS)
    up(spec)
    s3 = aws.client("s3")
    s3.put_object(Bucket="t-aws-ckpt", Key="runs/step-1/model.safetensors", Body=b"weights")

    down = run_cli("down", str(spec), "--yes")
    assert down.code == 0 and "checkpoints kept" in down.text
    assert leftovers(aws, "t-aws", keep_bucket="t-aws-ckpt") == []
    assert s3.get_object(Bucket="t-aws-ckpt", Key="runs/step-1/model.safetensors")["Body"].read() == b"weights"

    # A second `up` adopts the kept bucket; `down --purge-storage` then deletes it, versions and all.
    up(spec)
    assert plan_actions(spec)["bucket t-aws-ckpt"] == "keep"
    s3.put_object(Bucket="t-aws-ckpt", Key="runs/step-1/model.safetensors", Body=b"newer")
    assert run_cli("down", str(spec), "--yes", "--purge-storage").code == 0
    assert "t-aws-ckpt" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert leftovers(aws, "t-aws") == []


def test_purge_asks_unless_yes_and_refuses_without_a_terminal(aws: AwsAccount) -> None:
    spec = aws.spec(AWS)
    up(spec)
    aws.calls.clear()
    refused = run_cli("down", str(spec), "--purge-storage")
    assert refused.code == 2 and "--yes" in refused.text
    assert aws.calls.mutating() == []
    assert run_cli("down", str(spec), "--yes").code == 0


def test_up_without_yes_and_without_a_terminal_refuses_before_any_change(aws: AwsAccount) -> None:
    result = run_cli("up", str(aws.spec(AWS)), "--provision-only")
    assert result.code == 2 and "no terminal" in result.text and "--yes" in result.text
    assert "create" in result.text  # the plan was shown first
    assert aws.calls.mutating() == []


def test_plan_shows_cost_and_what_it_would_create(aws: AwsAccount) -> None:
    result = run_cli("plan", str(aws.spec(AWS)))
    assert result.code == 0
    assert "estimated cost: $" in result.out and "at min size" in result.out and "at max size" in result.out
    actions = plan_actions(aws.spec(AWS))
    for thing in (
        "key_pair rlcloud-t-aws",
        "security_group rlcloud-t-aws",
        "placement_group rlcloud-t-aws",
        "iam_role rlcloud-t-aws-head",
        "bucket t-aws-ckpt",
    ):
        assert actions[thing] == "create"


def test_changed_ssh_cidrs_and_a_hand_opened_ray_port_are_put_right(aws: AwsAccount) -> None:
    spec = aws.spec(AWS)
    up(spec)
    ec2 = aws.client("ec2")
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["rlcloud-t-aws"]}])["SecurityGroups"][0]
    # Someone opens the dashboard to the world by hand.
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8265, "ToPort": 8265, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    aws.spec(AWS.replace("ssh_cidrs: [203.0.113.0/24]", "ssh_cidrs: auto"))
    plan = run_cli("plan", str(spec))
    assert "update" in plan.out and "- ingress tcp 8265 from 0.0.0.0/0" in plan.out and f"+ ingress tcp 22 from {OPERATOR_IP}/32" in plan.out
    up(spec)
    rules = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]["IpPermissions"]
    cidrs = {(p.get("FromPort"), r["CidrIp"]) for p in rules for r in p.get("IpRanges", [])}
    assert cidrs == {(22, f"{OPERATOR_IP}/32")}
    assert set(plan_actions(spec).values()) <= {"keep", "use"}


def test_resources_the_user_brought_are_used_and_never_changed_or_deleted(aws: AwsAccount) -> None:
    ec2, s3, iam = aws.client("ec2"), aws.client("s3"), aws.client("iam")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="team-sg", Description="ours", VpcId=vpc)["GroupId"]
    s3.create_bucket(Bucket="team-ckpt", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket="team-ckpt", Key="runs/a", Body=b"1")
    iam.create_role(RoleName="team-role", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="team-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="team-profile", RoleName="team-role")
    before = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    text = (
        AWS.replace("placement: cluster", f"placement: cluster\n  security_group_id: {group}")
        .replace("s3://t-aws-ckpt/runs", "s3://team-ckpt/runs")
        .replace("  create_bucket: true\n", "")
        + "identity:\n  instance_profile: team-profile\n"
    )
    spec = aws.spec(text)
    actions = plan_actions(spec)
    assert actions[f"security_group {group}"] == "use" and actions["bucket team-ckpt"] == "use"
    assert not any(k.startswith("iam_role") for k in actions)

    up(spec)
    config = (naming.state_dir("t-aws") / "ray-cluster.yaml").read_text()
    assert "team-profile" in config and group in config
    assert run_cli("down", str(spec), "--yes", "--purge-storage").code == 0

    after = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert after["IpPermissions"] == before["IpPermissions"] and after.get("Tags", []) == before.get("Tags", [])
    assert s3.get_object(Bucket="team-ckpt", Key="runs/a")["Body"].read() == b"1"
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_tagging(Bucket="team-ckpt")  # never tagged
    assert iam.get_instance_profile(InstanceProfileName="team-profile")["InstanceProfile"]["Roles"][0]["RoleName"] == "team-role"
    assert leftovers(aws, "t-aws") == []


def test_a_same_named_resource_rlcloud_did_not_create_stops_up(aws: AwsAccount) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName="rlcloud-t-aws", Description="someone else's", VpcId=vpc)
    result = run_cli("up", str(aws.spec(AWS)), "--yes", "--provision-only")
    assert result.code == 1 and "rlcloud did not create it" in result.text and "Traceback" not in result.text
    assert run_cli("down", str(aws.spec(AWS)), "--yes", "--purge-storage").code == 0
    assert [g["GroupName"] for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]].count(
        "rlcloud-t-aws"
    ) == 1


def test_down_finds_everything_by_tag_when_the_local_state_is_lost(aws: AwsAccount) -> None:
    spec = aws.spec(AWS)
    up(spec)
    delete_state("t-aws")
    assert run_cli("down", str(spec), "--yes", "--purge-storage").code == 0
    assert leftovers(aws, "t-aws") == []


def test_a_changed_local_ssh_key_replaces_the_key_pair(aws: AwsAccount) -> None:
    spec = aws.spec(AWS)
    up(spec)
    for name in ("ssh_key", "ssh_key.pub"):
        (naming.state_dir("t-aws") / name).unlink()
    assert plan_actions(spec)["key_pair rlcloud-t-aws"] == "update"
    up(spec)
    local = (naming.state_dir("t-aws") / "ssh_key.pub").read_text().split()[:2]
    remote = aws.client("ec2").describe_key_pairs(KeyNames=["rlcloud-t-aws"], IncludePublicKey=True)["KeyPairs"][0]["PublicKey"].split()[:2]
    assert local == remote


def test_missing_credentials_are_a_cloud_error_not_a_traceback(aws: AwsAccount, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run_cli("plan", str(aws.spec(AWS)))
    assert result.code == 1 and "no AWS credentials" in result.text and "Traceback" not in result.text
