"""The GCP box's metadata server, on loopback (no box needed): it answers the instance whose
networkIP is the caller's address, only with `Metadata-Flavor: Google`, hands out tokens
the fake's IAM knows as the instance's service account, serves attributes and `preempted`,
and google-auth's own metadata client reads it unchanged."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.cloudbox.gcp.metadata import MetadataServer
from tests.gcp.fake_gcp import FakeGcp

EMAIL = "rlcloud-rl-box-worker@my-rl-project.iam.gserviceaccount.com"


@pytest.fixture
def metadata() -> Iterator[MetadataServer]:
    fake = FakeGcp()
    fake.world.instances[("my-rl-project", "us-central1-a", "vm-one")] = {
        "id": "4242",
        "name": "vm-one",
        "status": "RUNNING",
        "zone": "https://www.googleapis.com/compute/v1/projects/my-rl-project/zones/us-central1-a",
        "machineType": "zones/us-central1-a/machineTypes/g2-standard-4",
        "networkInterfaces": [{"networkIP": "127.0.0.1"}],
        "serviceAccounts": [{"email": EMAIL, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}],
        "metadata": {"items": [{"key": "ssh-keys", "value": "ubuntu:ssh-ed25519 AAAA test"}]},
        "scheduling": {"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE"},
    }
    server = MetadataServer(fake).start("127.0.0.1", 0)
    yield server
    server.shutdown()


def _get(server: MetadataServer, path: str, flavor: str | None = "Google") -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(server.url + path, headers={"Metadata-Flavor": flavor} if flavor else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_it_answers_only_with_the_metadata_flavor_header(metadata: MetadataServer) -> None:
    assert _get(metadata, "/computeMetadata/v1/project/project-id", flavor=None)[0] == 403
    status, body, headers = _get(metadata, "/computeMetadata/v1/project/project-id")
    assert (status, body, headers["Metadata-Flavor"]) == (200, "my-rl-project", "Google")


def test_tokens_act_as_the_instances_service_account(metadata: MetadataServer) -> None:
    status, body, _ = _get(metadata, "/computeMetadata/v1/instance/service-accounts/default/token")
    assert status == 200
    token = json.loads(body)["access_token"]
    assert metadata.fake.world.access_tokens[token] == f"serviceAccount:{EMAIL}"
    accounts = json.loads(_get(metadata, "/computeMetadata/v1/instance/service-accounts/?recursive=true")[1])
    assert accounts["default"]["email"] == EMAIL and accounts[EMAIL]["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_attributes_and_preemption(metadata: MetadataServer) -> None:
    assert _get(metadata, "/computeMetadata/v1/instance/attributes/ssh-keys")[1] == "ubuntu:ssh-ed25519 AAAA test"
    assert _get(metadata, "/computeMetadata/v1/instance/attributes/nope")[0] == 404
    assert _get(metadata, "/computeMetadata/v1/instance/scheduling/preemptible")[1] == "TRUE"
    assert _get(metadata, "/computeMetadata/v1/instance/preempted")[1] == "FALSE"
    metadata.mark_preempted("4242")
    assert _get(metadata, "/computeMetadata/v1/instance/preempted")[1] == "TRUE"


def test_a_caller_that_is_no_running_instance_gets_nothing(metadata: MetadataServer) -> None:
    metadata.fake.world.instances[("my-rl-project", "us-central1-a", "vm-one")]["status"] = "TERMINATED"
    assert _get(metadata, "/computeMetadata/v1/instance/service-accounts/default/token")[0] == 404


def test_google_auths_metadata_client_reads_it(metadata: MetadataServer) -> None:
    import google.auth.transport.requests
    from google.auth.compute_engine import _metadata

    request = google.auth.transport.requests.Request()
    root = metadata.url + "/computeMetadata/v1/"
    info = _metadata.get(request, "instance/service-accounts/default/", root=root, params={"recursive": "true"})
    assert info["email"] == EMAIL
    assert _metadata.get(request, "project/project-id", root=root) == "my-rl-project"
