"""The fake's IAM, through the real google-cloud-compute and google-cloud-storage clients
signed in with service account keys (self-signed JWTs, as those clients send): Compute calls
need a project role carrying the permission, launching a VM that runs as an account needs
actAs on it, and bucket calls need a project or bucket grant. Anonymous callers (the
provisioner tests' emulator mode) keep working. The cloud box proves least privilege on top
of this, so these checks must be able to fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gcp.fake_gcp import FakeGcp
from tests.gcp.fake_gcp.oauth import service_account_key
from tests.gcp.fake_gcp.storage import add_bucket

PROJECT = "my-rl-project"
ZONE = "us-central1-a"


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    server = FakeGcp().start()
    yield server
    server.stop()


def _credentials(fake: FakeGcp, tmp_path: Path, account_id: str, roles: list[str]) -> Any:
    from google.oauth2 import service_account

    email = fake.world.add_account(PROJECT, account_id)["email"]
    policy = fake.world.project_policy(PROJECT)
    policy["bindings"] += [{"role": role, "members": [f"serviceAccount:{email}"]} for role in roles]
    key = tmp_path / f"{account_id}.json"
    key.write_text(json.dumps(service_account_key(fake.world, email, f"{fake.url}/token")))
    return service_account.Credentials.from_service_account_file(str(key), scopes=["https://www.googleapis.com/auth/cloud-platform"])


def _instances(fake: FakeGcp, credentials: Any) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.cloud import compute_v1

    return compute_v1.InstancesClient(credentials=credentials, client_options=ClientOptions(api_endpoint=fake.url), transport="rest")


def _vm(name: str, account: str) -> Any:
    from google.cloud import compute_v1

    return compute_v1.Instance(
        name=name,
        machine_type=f"zones/{ZONE}/machineTypes/n2-standard-4",
        network_interfaces=[compute_v1.NetworkInterface(network=f"projects/{PROJECT}/global/networks/default")],
        service_accounts=[compute_v1.ServiceAccount(email=account, scopes=["https://www.googleapis.com/auth/cloud-platform"])],
    )


def test_compute_calls_need_a_role_with_the_permission(fake: FakeGcp, tmp_path: Path) -> None:
    from google.api_core import exceptions

    nobody = _instances(fake, _credentials(fake, tmp_path, "no-roles-here", []))
    with pytest.raises(exceptions.Forbidden, match="compute.instances.list"):
        list(nobody.list(project=PROJECT, zone=ZONE))
    with pytest.raises(exceptions.Forbidden, match="compute.instances.delete"):
        nobody.delete(project=PROJECT, zone=ZONE, instance="anything")
    admin = _instances(fake, _credentials(fake, tmp_path, "instance-admin", ["roles/compute.instanceAdmin.v1"]))
    assert list(admin.list(project=PROJECT, zone=ZONE)) == []
    member = {c.member for c in fake.calls if c.status == 200}
    assert member == {f"serviceAccount:instance-admin@{PROJECT}.iam.gserviceaccount.com"}


def test_launching_a_vm_as_an_account_needs_act_as_on_it(fake: FakeGcp, tmp_path: Path) -> None:
    from google.api_core import exceptions

    launcher = _instances(fake, _credentials(fake, tmp_path, "launcher", ["roles/compute.instanceAdmin.v1"]))
    runs_as = fake.world.add_account(PROJECT, "runs-as-this")["email"]
    with pytest.raises(exceptions.Forbidden, match="runs-as-this"):
        launcher.insert(project=PROJECT, zone=ZONE, instance_resource=_vm("vm-one", runs_as))
    fake.world.account_policies[runs_as] = {
        "bindings": [{"role": "roles/iam.serviceAccountUser", "members": [f"serviceAccount:launcher@{PROJECT}.iam.gserviceaccount.com"]}]
    }
    launcher.insert(project=PROJECT, zone=ZONE, instance_resource=_vm("vm-one", runs_as))
    assert (PROJECT, ZONE, "vm-one") in fake.world.instances


def test_bucket_calls_need_a_project_or_bucket_grant_and_anonymous_still_passes(fake: FakeGcp, tmp_path: Path) -> None:
    from google.api_core import exceptions
    from google.cloud import storage  # type: ignore[attr-defined]

    add_bucket(fake.world, "some-bucket")
    nobody = storage.Client(
        project=PROJECT, credentials=_credentials(fake, tmp_path, "no-bucket-roles", []), client_options={"api_endpoint": fake.url}
    )
    with pytest.raises(exceptions.Forbidden, match="storage.buckets.list"):
        list(nobody.list_buckets())
    with pytest.raises(exceptions.Forbidden, match="storage.buckets.create"):
        nobody.create_bucket("a-new-bucket")
    owner = storage.Client(
        project=PROJECT, credentials=_credentials(fake, tmp_path, "project-owner", ["roles/owner"]), client_options={"api_endpoint": fake.url}
    )
    assert [b.name for b in owner.list_buckets()] == ["some-bucket"]
    # The bucket's legacy grant to the project's owners reaches an owner through `projectOwner:`.
    assert owner.bucket("some-bucket").get_iam_policy().bindings
    assert fake.handle("GET", "/storage/v1/b", b"") == (200, {"kind": "storage#buckets", "items": [fake.world.buckets["some-bucket"]]})  # anonymous
