"""Azure failing at each step of `up`, and in `down`: rlcloud exits 1 with Azure's code and
message and what to do next, and both a re-run of `up` and `down` finish the job. Throttling
is retried by the SDK, not surfaced. Missing credentials or SDK are one-line errors."""

from __future__ import annotations

import sys

import pytest

from provisioner.clouds.azure.sdk_clients import ENDPOINT_ENV, POLLING_INTERVAL_ENV
from tests.azure.cli_steps import down, up
from tests.azure.conftest import AzureSubscription
from tests.azure.fake_arm import AUTHORIZATION_FAILED, QUOTA_EXCEEDED, SKU_NOT_AVAILABLE, THROTTLED, UNAUTHENTICATED, ArmError, FakeArm
from tests.support.cli import run_cli
from tests.support.specs import AZURE

FIRST_UP_MUTATIONS = 7  # see test_lifecycle.test_first_up_makes_exactly_these_calls
# One kind of failure per step, each with the words the user must see.
FAULTS: list[tuple[ArmError, str]] = [
    (QUOTA_EXCEEDED, "request more quota"),
    (AUTHORIZATION_FAILED, "User Access Administrator"),
    (SKU_NOT_AVAILABLE, "try another zone, region or size"),
    (UNAUTHENTICATED, "az login"),
]


def _clean_state(azure: AzureSubscription) -> list[str]:
    return sorted(azure.arm.everything())


@pytest.fixture(scope="module")
def clean_up_result(arm_server: FakeArm, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """What a clean `up` of the test spec leaves in the fake (ids), to compare recoveries to."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ENDPOINT_ENV, arm_server.endpoint)
        env.setenv(POLLING_INTERVAL_ENV, "0")
        env.setenv("RLCLOUD_HOME", str(tmp_path_factory.mktemp("home")))
        arm_server.reset()
        spec = tmp_path_factory.mktemp("spec") / "spec.yaml"
        spec.write_text(AZURE)
        up(spec)
        return sorted(arm_server.everything())


@pytest.mark.parametrize("step", range(1, FIRST_UP_MUTATIONS + 1))
@pytest.mark.parametrize("recover_with", ["up", "down"])
def test_a_failure_at_each_step_of_up_is_reported_and_recoverable(
    azure: AzureSubscription, clean_up_result: list[str], step: int, recover_with: str
) -> None:
    spec = azure.spec(AZURE)
    fault, words = FAULTS[step % len(FAULTS)]
    azure.arm.fail_nth_mutation(step, fault)
    failed = run_cli("up", str(spec), "--yes", "--provision-only")
    assert failed.code == 1, failed.text
    assert f"{fault.code}: {fault.message}" in failed.text and words in failed.text
    assert "Traceback" not in failed.text
    assert len(azure.arm.mutations()) == step  # stopped at the failure

    if recover_with == "up":
        up(spec)
        assert _clean_state(azure) == clean_up_result
    down(spec)
    assert azure.arm.everything() == []


def test_throttling_is_retried_by_the_sdk_not_surfaced(azure: AzureSubscription, clean_up_result: list[str]) -> None:
    azure.arm.fail_when("PUT", r"networkSecurityGroups/", THROTTLED)
    azure.arm.fail_when("PUT", r"roleAssignments/", THROTTLED)
    up(azure.spec(AZURE))
    assert _clean_state(azure) == clean_up_result
    puts = [r.path.rsplit("/", 2)[-2] for r in azure.arm.mutations()]
    assert puts.count("networkSecurityGroups") == 2 and puts.count("roleAssignments") == 2


def test_a_delete_azure_refuses_is_reported_with_how_to_finish_then_down_again_finishes(azure: AzureSubscription) -> None:
    clients = azure.clients()
    clients.resource().resource_groups.create_or_update("team-rg", {"location": "eastus"})
    spec = azure.spec(AZURE.replace("region: eastus", "region: eastus\nresource_group: team-rg"))
    up(spec)
    azure.arm.fail_when("DELETE", r"networkSecurityGroups/rlcloud-t-azure-nsg$", AUTHORIZATION_FAILED)
    first = run_cli("down", str(spec), "--yes")
    assert first.code == 1 and "could not remove everything" in first.text
    assert "az resource delete --ids /subscriptions/" in first.text and "rlcloud-t-azure-nsg  (AuthorizationFailed)" in first.text
    assert "Traceback" not in first.text
    down(spec)
    assert azure.arm.everything() == [f"/subscriptions/{clients.subscription_id}/resourceGroups/team-rg"]


def test_no_azure_credentials_is_a_one_line_error(azure: AzureSubscription, monkeypatch: pytest.MonkeyPatch) -> None:
    # An https endpoint gets real authentication; this machine has no Azure login of any kind.
    monkeypatch.setenv("RLCLOUD_AZURE_ENDPOINT", azure.arm.endpoint.replace("http://", "https://"))
    for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no `az`, `azd` or `pwsh` to ask
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(azure.specs / "no-az-config"))
    result = run_cli("plan", str(azure.spec(AZURE)))
    assert result.code == 1, result.text
    assert "no usable Azure credentials" in result.text and "az login" in result.text
    assert "Traceback" not in result.text


def test_a_missing_azure_sdk_names_the_extra(azure: AzureSubscription, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.mgmt.msi", None)  # as if azure-mgmt-msi were not installed
    result = run_cli("plan", str(azure.spec(AZURE)))
    assert result.code == 1
    assert "azure-mgmt-msi is not installed" in result.text and "pip install 'rlcloud[azure]'" in result.text


def test_a_plain_http_endpoint_off_this_machine_is_refused(azure: AzureSubscription, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLCLOUD_AZURE_ENDPOINT", "http://management.example.com")
    result = run_cli("plan", str(azure.spec(AZURE)))
    assert result.code == 1 and "RLCLOUD_AZURE_ENDPOINT" in result.text and "https://" in result.text
