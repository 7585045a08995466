"""Ports a local cluster gets: free, distinct, and out of reach of other processes' ephemeral
binds (a GCS port taken between choosing it and `ray start` binding it hangs `ray start`)."""

from __future__ import annotations

import socket
from pathlib import Path

from provisioner.local.head import (
    PORT_FLOOR,
    _ephemeral_floor,
    allocate_runtime,
    free_ports,
)


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4
    ceiling = _ephemeral_floor()
    assert all(PORT_FLOOR <= port < ceiling for port in ports), (ports, ceiling)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises if it was not free


def test_a_port_in_use_is_never_handed_out() -> None:
    held = []
    try:
        # Hold most of a small sample of the range; what comes back must avoid all of it.
        for port in range(PORT_FLOOR, PORT_FLOOR + 200):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen()
            held.append(sock)
        taken = {s.getsockname()[1] for s in held}
        for _ in range(20):
            assert not set(free_ports(4)) & taken
    finally:
        for sock in held:
            sock.close()


def test_a_cluster_gets_four_distinct_ports_and_a_temp_dir_of_its_own(tmp_path: Path) -> None:
    a, b = allocate_runtime(tmp_path / "a"), allocate_runtime(tmp_path / "b")
    assert a.temp_dir != b.temp_dir and a.temp_dir == allocate_runtime(tmp_path / "a").temp_dir
    for runtime in (a, b):
        assert len({runtime.gcs_port, runtime.dashboard_port, runtime.client_port, runtime.agent_port}) == 4
