"""An Azure subscription for each test: the session's fake ARM server (tests/azure/fake_arm),
emptied, with every rlcloud client (and Ray's node provider, through rlcloud's) pointed at it
by RLCLOUD_AZURE_ENDPOINT, and long-running operations polled without the SDK's 30 s wait."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioner.clouds.azure.sdk_clients import ENDPOINT_ENV, POLLING_INTERVAL_ENV, ArmClients
from tests.azure.fake_arm import FakeArm, start_fake_arm

OPERATOR_IP = "198.51.100.7"  # what `ssh_cidrs: auto` resolves to (RLCLOUD_PUBLIC_IP)
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


@dataclass
class AzureSubscription:
    arm: FakeArm
    specs: Path

    def spec(self, text: str, name: str = "spec.yaml") -> Path:
        path = self.specs / name
        path.write_text(text)
        return path

    def clients(self, subscription_id: str = SUBSCRIPTION) -> ArmClients:
        """Real SDK clients on the fake, for a test's own reads and setup."""
        return ArmClients(subscription_id)

    def one(self, kind: str) -> dict[str, Any]:
        found = self.arm.of_type(kind)
        assert len(found) == 1, f"expected one {kind}, found {[r['id'] for r in found]}"
        return found[0]


@pytest.fixture(scope="session")
def arm_server() -> Iterator[FakeArm]:
    fake = start_fake_arm()
    yield fake
    fake.stop()


@pytest.fixture
def azure(arm_server: FakeArm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AzureSubscription]:
    arm_server.reset()
    monkeypatch.setenv(ENDPOINT_ENV, arm_server.endpoint)
    monkeypatch.setenv(POLLING_INTERVAL_ENV, "0")
    monkeypatch.setenv("RLCLOUD_PUBLIC_IP", OPERATOR_IP)
    yield AzureSubscription(arm=arm_server, specs=tmp_path)
    assert arm_server.bugs == [], "the fake ARM server failed on a request"
