"""An AWS account for each test: the session's moto server, reset, with rlcloud's clients
pointed at it and the moto gaps filled (tests/aws/moto_gaps.py); every API call rlcloud
makes is logged (tests/aws/aws_api.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from provisioner.clouds.aws.session import on_new_client
from tests.aws.aws_api import CallLog
from tests.aws.moto_gaps import MotoGaps
from tests.support.moto_server import MotoServer

OPERATOR_IP = "198.51.100.7"  # what `ssh_cidrs: auto` resolves to (RLCLOUD_PUBLIC_IP)
REGION = "us-west-2"


@dataclass
class AwsAccount:
    server: MotoServer
    gaps: MotoGaps
    calls: CallLog
    specs: Path

    def client(self, service: str) -> Any:
        """A plain client for the test's own reads (not rlcloud's, so not logged)."""
        import boto3

        return boto3.client(service, region_name=REGION, endpoint_url=self.server.endpoint)

    def spec(self, text: str, name: str = "spec.yaml") -> Path:
        path = self.specs / name
        path.write_text(text)
        return path


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AwsAccount]:
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("RLCLOUD_PUBLIC_IP", OPERATOR_IP)
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    gaps, calls = MotoGaps(), CallLog()
    with on_new_client(gaps.attach), on_new_client(calls.attach):
        yield AwsAccount(server=moto_server, gaps=gaps, calls=calls, specs=tmp_path)
