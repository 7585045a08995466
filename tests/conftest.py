"""Fixtures every test package can use.

- Each test gets its own RLCLOUD_HOME, so nothing touches the developer's ~/.rlcloud.
- `moto_server`: one real moto server for the session (reset between users who need it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.moto_server import MotoServer, moto_server_fixture

REPO = Path(__file__).resolve().parents[1]


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
