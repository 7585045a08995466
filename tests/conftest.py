"""Fixtures every test package can use.

- Each test gets its own RLCLOUD_HOME, so nothing touches the developer's ~/.rlcloud.
- `moto_server`: one real moto server for the session (reset between users who need it).
- google-auth never probes for a GCE metadata server from the host (NO_GCE_CHECK).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto_server import MotoServer, moto_server_fixture

REPO = Path(__file__).resolve().parents[1]
# google-auth looks for a GCE metadata server (169.254.169.254) when it finds no other
# credentials. The tests do not run on GCE and that address is off this machine: never ask
# it (the cloud box's VMs, which have one, get their environment from the box, not from here).
os.environ["NO_GCE_CHECK"] = "true"


@pytest.fixture(autouse=True)
def isolated_rlcloud_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("rlcloud-home")
    monkeypatch.setenv("RLCLOUD_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    yield from moto_server_fixture()


@pytest.fixture
def repo_root() -> Path:
    return REPO
