"""Checkpoints on Azure Blob (az://ACCOUNT/CONTAINER/PREFIX), through the CLI against the fake
ARM server: the workers' own identity with one role on the container, the storage account rlcloud
creates (and keeps on `down` unless --purge-storage), and a user's account that must exist."""

from __future__ import annotations

import pytest

from tests.azure.cli_steps import down, plan_actions, ray_config, up
from tests.azure.conftest import SUBSCRIPTION, AzureSubscription
from tests.support.cli import run_cli
from tests.support.specs import AZURE

IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
ACCOUNT = "Microsoft.Storage/storageAccounts"
GROUP = "Microsoft.Resources/resourceGroups"
BLOB_CONTRIBUTOR = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_READER = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
IDENTITY_OPERATOR = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/f1a07417-d97a-45cb-824c-7a7467783830"
DATA_RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rlcloud-t-azure-data"
ACCOUNT_ID = f"{DATA_RG}/providers/{ACCOUNT}/tazckpt"
CONTAINER_SCOPE = f"{ACCOUNT_ID}/blobServices/default/containers/runs"
CREATED = AZURE + "storage:\n  checkpoint_uri: az://tazckpt/runs/exp1\n  create_bucket: true\n"
USERS = AZURE + "storage:\n  checkpoint_uri: az://teamckpt/ckpt/exp1\n"


def _assignments(azure: AzureSubscription) -> dict[str, dict]:
    """Role assignments by role definition id (the fake's, as Azure holds them)."""
    return {a["properties"]["roleDefinitionId"]: a["properties"] for a in azure.arm.store.role_assignments.values()}


def _identity(azure: AzureSubscription, name: str) -> dict:
    return next(i for i in azure.arm.of_type(IDENTITY) if i["name"] == name)


def _user_storage(azure: AzureSubscription, container: bool = True) -> str:
    clients = azure.clients()
    clients.resource().resource_groups.create_or_update("team-data", {"location": "eastus"})
    rid = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-data/providers/{ACCOUNT}/teamckpt"
    resources = clients.resource().resources
    body = {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_GRS"}, "properties": {}}
    resources.begin_create_or_update_by_id(rid, "2023-05-01", body).result()
    if container:
        resources.begin_create_or_update_by_id(f"{rid}/blobServices/default/containers/ckpt", "2023-05-01", {"properties": {}}).result()
    return rid


def test_plan_up_reup_down_keeps_the_checkpoints_and_purge_removes_them(azure: AzureSubscription) -> None:
    spec = azure.spec(CREATED)
    planned = plan_actions(spec)
    assert azure.arm.mutations() == []
    for row in (
        "resource_group rlcloud-t-azure-data",
        "storage_account tazckpt",
        "blob_service tazckpt/default",
        "storage_container tazckpt/runs",
        "managed_identity rlcloud-t-azure-worker",
        "role_assignment Storage-Blob-Data-Contributor",
        "role_assignment Storage-Blob-Data-Reader",
        "role_assignment Managed-Identity-Operator",
    ):
        assert planned[row] == "create", (row, planned)

    up(spec)
    data_group = next(g for g in azure.arm.of_type(GROUP) if g["name"] == "rlcloud-t-azure-data")
    assert data_group["tags"] == {"rlcloud-cluster": "t-azure", "rlcloud-managed": "true"}
    [account] = azure.arm.of_type(ACCOUNT)
    assert account["id"] == ACCOUNT_ID and account["kind"] == "StorageV2" and account["sku"]["name"] == "Standard_LRS"
    assert account["tags"]["rlcloud-cluster"] == "t-azure"
    props = account["properties"]
    assert (props["allowBlobPublicAccess"], props["minimumTlsVersion"], props["supportsHttpsTrafficOnly"]) == (False, "TLS1_2", True)
    assert azure.arm.store.get(f"{ACCOUNT_ID}/blobServices/default")["properties"]["isVersioningEnabled"] is True
    assert azure.arm.store.get(CONTAINER_SCOPE) is not None

    worker = _identity(azure, "rlcloud-t-azure-worker")
    head = _identity(azure, "rlcloud-t-azure-identity")
    assert worker["tags"]["rlcloud-cluster"] == "t-azure"
    roles = _assignments(azure)
    # The workers: one role, on the container only. The head: its autoscaler role, unchanged,
    # the right to give the worker identity (and no other) to the VMs it launches, and read
    # access to the container (the job's driver looks for the newest checkpoint there).
    storage = roles[BLOB_CONTRIBUTOR]
    assert (storage["scope"], storage["principalId"]) == (CONTAINER_SCOPE, worker["properties"]["principalId"])
    assert [r for r in roles.values() if r["principalId"] == worker["properties"]["principalId"]] == [storage]
    operator = roles[IDENTITY_OPERATOR]
    assert (operator["scope"], operator["principalId"]) == (worker["id"], head["properties"]["principalId"])
    reader = roles[BLOB_READER]
    assert (reader["scope"], reader["principalId"]) == (CONTAINER_SCOPE, head["properties"]["principalId"])
    assert len(roles) == 4

    config = ray_config("t-azure")
    assert config["provider"]["worker_msi"] == worker["id"] and config["provider"]["msi"] == head["id"]
    client_id = worker["properties"]["clientId"]
    starts = [c for c in config["worker_start_ray_commands"] if "ray start" in c]
    assert starts and all(f"export AZURE_CLIENT_ID={client_id};" in c for c in starts)
    assert all(client_id not in c for c in config["head_start_ray_commands"])

    assert set(plan_actions(spec).values()) == {"keep"}
    azure.arm.clear_requests()
    up(spec)
    assert azure.arm.mutations() == [], azure.arm.mutations()

    result = down(spec)
    assert "checkpoints kept" in result.text and "keep    storage_account" in result.text
    left = sorted(azure.arm.everything())
    assert left == sorted([DATA_RG, ACCOUNT_ID, f"{ACCOUNT_ID}/blobServices/default", CONTAINER_SCOPE]), left

    # Up again: the same account is used; down --purge-storage then removes it and its group.
    up(spec)
    assert [a["id"] for a in azure.arm.of_type(ACCOUNT)] == [ACCOUNT_ID]
    purged = run_cli("down", str(spec), "--yes", "--purge-storage")
    assert purged.code == 0, purged.text
    assert "delete  resource_group         rlcloud-t-azure-data" in purged.text
    assert azure.arm.everything() == []


def test_in_a_group_the_user_named_the_account_is_kept_and_purge_deletes_only_it(azure: AzureSubscription) -> None:
    azure.clients().resource().resource_groups.create_or_update("team-rg", {"location": "eastus"})
    spec = azure.spec(CREATED.replace("region: eastus", "region: eastus\nresource_group: team-rg"))
    assert "resource_group rlcloud-t-azure-data" not in plan_actions(spec)
    up(spec)
    [account] = azure.arm.of_type(ACCOUNT)
    assert account["id"].startswith(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-rg/")
    down(spec)
    assert [a["id"] for a in azure.arm.of_type(ACCOUNT)] == [account["id"]]
    assert azure.arm.of_type(IDENTITY) == [] and azure.arm.store.role_assignments == {}
    up(spec)
    assert run_cli("down", str(spec), "--yes", "--purge-storage").code == 0
    assert sorted(azure.arm.everything()) == [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-rg"]


def test_a_users_account_gets_the_role_on_its_container_and_is_never_touched(azure: AzureSubscription) -> None:
    account_id = _user_storage(azure)
    before = azure.arm.store.get(account_id)
    spec = azure.spec(USERS)
    planned = plan_actions(spec)
    assert planned["storage_account teamckpt"] == "use" and planned["storage_container teamckpt/ckpt"] == "use"
    up(spec)
    worker = _identity(azure, "rlcloud-t-azure-worker")
    storage = _assignments(azure)[BLOB_CONTRIBUTOR]
    assert storage["scope"] == f"{account_id}/blobServices/default/containers/ckpt"
    assert storage["principalId"] == worker["properties"]["principalId"]
    assert azure.arm.store.get(account_id) == before

    result = run_cli("down", str(spec), "--yes", "--purge-storage")  # never the user's
    assert result.code == 0, result.text
    left = sorted(azure.arm.everything())
    assert left == sorted(
        [
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-data",
            account_id,
            f"{account_id}/blobServices/default",
            f"{account_id}/blobServices/default/containers/ckpt",
        ]
    )


@pytest.mark.parametrize("container", [False, True], ids=["no-account", "no-container"])
def test_a_missing_user_account_or_container_stops_up_before_anything_is_made(azure: AzureSubscription, container: bool) -> None:
    if container:
        _user_storage(azure, container=False)
    spec = azure.spec(USERS)
    azure.arm.clear_requests()
    result = run_cli("up", str(spec), "--yes", "--provision-only")
    missing = "storage_container teamckpt/ckpt" if container else "storage_account teamckpt"
    assert result.code == 1 and f"{missing} named in the spec does not exist" in result.text, result.text
    assert "create_bucket: true" in result.text and "Traceback" not in result.text
    assert azure.arm.mutations() == []
    assert "nothing to do" in down(spec).text


def test_a_storage_account_name_taken_elsewhere_is_refused_with_azures_words(azure: AzureSubscription) -> None:
    _user_storage(azure)
    spec = azure.spec(CREATED.replace("tazckpt", "teamckpt"))
    result = run_cli("up", str(spec), "--yes", "--provision-only")
    assert result.code == 1 and "StorageAccountAlreadyTaken" in result.text, result.text
    # Storage comes first: nothing of the cluster was made, only the (empty) data group.
    assert not any(g["name"] == "rlcloud-t-azure" for g in azure.arm.of_type(GROUP))
    assert "delete  resource_group         rlcloud-t-azure-data" in down(spec).text
    assert sorted(g["name"] for g in azure.arm.of_type(GROUP)) == ["team-data"]
    assert len(azure.arm.of_type(ACCOUNT)) == 1
