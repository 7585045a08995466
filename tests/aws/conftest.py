"""An AWS account for each test: the session's moto server, reset, with rlcloud's clients
pointed at it and the moto gaps filled (tests/aws/moto_gaps.py); every API call rlcloud
makes is logged (tests/aws/aws_api.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    def placement_groups(self) -> list[dict[str, Any]]:
        """moto has no placement groups; the stand-in (tests/aws/moto_gaps.py) holds them."""
        return list(self.gaps.placement_groups.groups.values())

    def spec(self, text: str, name: str = "spec.yaml") -> Path:
        path = self.specs / name
        path.write_text(text)
        return path

    def reuse_ssh_key(self, cluster: str) -> None:
        """Give `cluster` an SSH key made once per session, as if an earlier `up` had made it:
        generating RSA-3072 costs up to a second, which adds up over the failure matrix."""
        import shutil

        from provisioner import naming

        target = naming.state_dir(cluster)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("ssh_key", "ssh_key.pub"):
            shutil.copy2(_session_key() / name, target / name)


_KEY_DIR: list[Path] = []


def _session_key() -> Path:
    if not _KEY_DIR:
        import tempfile

        from provisioner.sshkeys import ensure_keypair

        folder = Path(tempfile.mkdtemp(prefix="rlcloud-test-key-"))
        ensure_keypair(folder / "ssh_key", "rlcloud-tests")
        _KEY_DIR.append(folder)
    return _KEY_DIR[0]


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AwsAccount]:
    """A clean account (moto reset: ~1.5 s on the next EC2 call, which rebuilds the region)."""
    moto_server.reset()
    yield from _account(moto_server, monkeypatch, tmp_path)


@pytest.fixture
def shared_aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AwsAccount]:
    """The account as the last test left it, for tests whose clusters have names of their own."""
    yield from _account(moto_server, monkeypatch, tmp_path)


@contextmanager
def account_for_module(moto_server: MotoServer, folder: Path) -> Iterator[AwsAccount]:
    """A clean account and RLCLOUD_HOME shared by the tests of one module (one `up` for all)."""
    moto_server.reset()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("RLCLOUD_HOME", str(folder / "home"))
        yield from _account(moto_server, monkeypatch, folder)


def _account(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AwsAccount]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("RLCLOUD_PUBLIC_IP", OPERATOR_IP)
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    gaps, calls = MotoGaps(), CallLog()
    with on_new_client(gaps.attach), on_new_client(calls.attach):
        yield AwsAccount(server=moto_server, gaps=gaps, calls=calls, specs=tmp_path)
