"""A failure at any step of `up` leaves a state from which both `up` and `down` complete.

Each mutating call of a first `up` fails in turn, the way AWS fails it (capacity, quota,
auth), through botocore's event hooks on the real clients; then either a re-run of `up`
finishes the cluster and `down` removes it, or `down` alone removes everything. Throttling
on every call is retried by botocore and never reaches the user.
"""

from __future__ import annotations

import pytest

from provisioner.clouds.aws.session import on_new_client
from provisioner.state import load_state
from tests.aws.aws_api import FAILURES, FailAt, Throttle
from tests.aws.conftest import AwsAccount
from tests.aws.leftovers import leftovers
from tests.aws.test_lifecycle import FIRST_UP_CALLS
from tests.support.cli import run_cli
from tests.support.specs import AWS

KINDS = sorted(FAILURES)  # auth, capacity, quota: rotated over the steps
COMPLETE = sorted(["bucket", "iam_role", "iam_role", "instance_profile", "instance_profile", "key_pair", "placement_group", "security_group"])


def _spec(aws: AwsAccount, cluster: str) -> object:
    aws.reuse_ssh_key(cluster)
    return aws.spec(AWS.replace("name: t-aws", f"name: {cluster}").replace("s3://t-aws-ckpt", f"s3://{cluster}-ckpt"))


def _fail_up(aws: AwsAccount, spec: object, step: int) -> str:
    kind = KINDS[step % len(KINDS)]
    fail = FailAt(step, kind)
    with on_new_client(fail.attach):
        result = run_cli("up", str(spec), "--yes", "--provision-only")
    assert fail.failed == FIRST_UP_CALLS[step]
    service = fail.failed.split(":")[0]
    code, message = FAILURES[kind].get(service, FAILURES[kind]["ec2"])
    assert result.code == 1, result.text
    assert code in result.text and message[:40] in result.text  # AWS's own words
    assert "rlcloud up" in result.text and "Traceback" not in result.text  # what to do next
    return result.text


@pytest.mark.parametrize("then", ["up", "down"])
@pytest.mark.parametrize("step", range(len(FIRST_UP_CALLS)), ids=lambda i: f"{i}-{FIRST_UP_CALLS[i]}")
def test_after_a_failed_step_both_up_and_down_finish(shared_aws: AwsAccount, step: int, then: str) -> None:
    cluster = f"t-{then}-{step}"
    spec = _spec(shared_aws, cluster)
    _fail_up(shared_aws, spec, step)
    if then == "up":
        finish = run_cli("up", str(spec), "--yes", "--provision-only")
        assert finish.code == 0, finish.text
        state = load_state(cluster)
        assert state is not None and state.status == "provisioned"
        assert sorted(r.kind for r in state.resources) == COMPLETE
        assert all(r.extra["launchable"] for r in state.resources if r.kind == "instance_profile")
    down = run_cli("down", str(spec), "--yes", "--purge-storage")
    assert down.code == 0, down.text
    assert leftovers(shared_aws, cluster) == []


def test_throttling_on_every_call_is_retried_not_surfaced(shared_aws: AwsAccount) -> None:
    spec = _spec(shared_aws, "t-throttle")
    throttle = Throttle()
    with on_new_client(throttle.attach):  # botocore sleeps up to 1 s before each retry
        assert run_cli("up", str(spec), "--yes", "--provision-only").code == 0
    # Every mutating call that goes over the wire was throttled once, then retried (the
    # placement-group and bucket-policy stand-ins answer before the wire, so they are not).
    assert throttle.throttled == [c for c in FIRST_UP_CALLS if "PlacementGroup" not in c and "BucketPolicy" not in c]
    assert run_cli("down", str(spec), "--yes", "--purge-storage").code == 0
    assert leftovers(shared_aws, "t-throttle") == []


def test_a_security_group_still_in_use_is_retried_until_it_can_go(shared_aws: AwsAccount) -> None:
    spec = _spec(shared_aws, "t-inuse")
    assert run_cli("up", str(spec), "--yes", "--provision-only").code == 0
    attempts: list[str] = []

    def in_use(client: object) -> None:
        def answer(model: object, **_: object) -> object:
            from botocore.awsrequest import AWSResponse

            if len(attempts) < 2:  # AWS says "in use" twice (interfaces still detaching)
                attempts.append("DependencyViolation")
                error = {"Code": "DependencyViolation", "Message": "resource sg-x has a dependent object"}
                return AWSResponse(None, 400, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
            return None

        client.meta.events.register_first("before-call.ec2.DeleteSecurityGroup", answer)  # type: ignore[attr-defined]

    with on_new_client(in_use):
        down = run_cli("down", str(spec), "--yes", "--purge-storage")
    assert down.code == 0, down.text
    assert attempts == ["DependencyViolation", "DependencyViolation"]
    assert "still in use (DependencyViolation); retrying" in down.text
    assert leftovers(shared_aws, "t-inuse") == []


def test_what_cannot_be_deleted_is_listed_with_the_command_to_delete_it(shared_aws: AwsAccount) -> None:
    spec = _spec(shared_aws, "t-stuck")
    assert run_cli("up", str(spec), "--yes", "--provision-only").code == 0

    def refuse(client: object) -> None:
        def answer(model: object, **_: object) -> object:
            from botocore.awsrequest import AWSResponse

            error = {"Code": "UnauthorizedOperation", "Message": "You are not authorized to perform this operation."}
            return AWSResponse(None, 403, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}

        client.meta.events.register_first("before-call.ec2.DeleteKeyPair", answer)  # type: ignore[attr-defined]

    with on_new_client(refuse):
        down = run_cli("down", str(spec), "--yes", "--purge-storage")
    assert down.code == 1
    assert "key_pair rlcloud-t-stuck" in down.text and "UnauthorizedOperation" in down.text
    assert "aws ec2 --region us-west-2 delete-key-pair --key-name rlcloud-t-stuck" in down.text
    assert [line for line in leftovers(shared_aws, "t-stuck")] == ["key pair rlcloud-t-stuck"]
    assert run_cli("down", str(spec), "--yes", "--purge-storage").code == 0  # once allowed, down finishes
    assert leftovers(shared_aws, "t-stuck") == []
