"""One real local Ray cluster shared by the tests of this package (starting one costs ~10 s
on 2 cores). Tests that need a cluster of their own (a second name, down/up) make one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner import api, naming
from provisioner.local.processes import find_cluster_processes
from provisioner.state import load_state

SPEC = """\
name: t-shared
cloud: local
head:
  cpus: 2
node_groups:
  learner:
    accelerators: H100:2
    cpus: 1
    min_nodes: 1
    max_nodes: 1
  sampler:
    accelerators: L4:1
    cpus: 1
    min_nodes: 0
    max_nodes: 3
ray:
  idle_timeout_minutes: 5
"""


@dataclass
class LocalCluster:
    spec: Path
    home: Path
    name: str = "t-shared"

    @property
    def state_dir(self) -> Path:
        return self.home / "clusters" / self.name

    def processes(self) -> list:
        state = load_state(self.name)
        assert state is not None and state.local is not None
        return find_cluster_processes(state.local.temp_dir, state.local.gcs_port)


@pytest.fixture(scope="package")
def cluster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-home")


@pytest.fixture(autouse=True)
def isolated_rlcloud_home(cluster_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the suite-wide fixture: these tests share one RLCLOUD_HOME with the cluster."""
    monkeypatch.setenv(naming.RLCLOUD_HOME_ENV, str(cluster_home))
    return cluster_home


@pytest.fixture(scope="package")
def local_cluster(cluster_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(naming.RLCLOUD_HOME_ENV, str(cluster_home))
        spec = tmp_path_factory.mktemp("specs") / "shared.yaml"
        spec.write_text(SPEC)
        result = api.up(spec, timeout_s=240)
        assert result.changed
        cluster = LocalCluster(spec=spec, home=cluster_home)
        try:
            yield cluster
        finally:
            api.down(spec)
