"""A GCP project for each test: the session's fake REST server, reset, with rlcloud's clients
(and its Ray node provider) pointed at it through the endpoint variables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gcp.fake_gcp import FakeGcp
from tests.gcp.fake_gcp.world import World

OPERATOR_IP = "198.51.100.7"  # what `ssh_cidrs: auto` resolves to (RLCLOUD_PUBLIC_IP)
PROJECT = "my-rl-project"
ZONE = "us-central1-a"
REGION = "us-central1"


@dataclass
class GcpProject:
    fake: FakeGcp
    specs: Path

    @property
    def world(self) -> World:
        return self.fake.world

    def spec(self, text: str, name: str = "spec.yaml") -> Path:
        path = self.specs / name
        path.write_text(text)
        return path


@pytest.fixture(scope="session")
def fake_gcp_server() -> Iterator[FakeGcp]:
    fake = FakeGcp().start()
    yield fake
    fake.stop()


@pytest.fixture
def gcp(fake_gcp_server: FakeGcp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> GcpProject:
    fake_gcp_server.reset()
    for key, value in fake_gcp_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RLCLOUD_PUBLIC_IP", OPERATOR_IP)
    # Ray's provider cache would hand one test's provider (and its clients) to the next.
    from ray.autoscaler._private.providers import _clear_provider_cache

    _clear_provider_cache()
    return GcpProject(fake=fake_gcp_server, specs=tmp_path)
