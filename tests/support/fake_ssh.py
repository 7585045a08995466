#!/usr/bin/env python3
"""Stands in for the `ssh` binary at the process boundary: accepts the arguments rlcloud's
tunnel passes, records them, and forwards `-L 127.0.0.1:LOCAL:HOST:REMOTE` the way ssh would,
connecting to the destination host itself (in tests, 127.0.0.1 or a moto instance IP mapped
to 127.0.0.1 with FAKE_SSH_HOST_MAP="10.0.0.5=127.0.0.1"). FAKE_SSH_PORT_MAP="8265=41234" maps
the remote port the same way, for a stand-in head whose dashboard is not on 8265.

    RLCLOUD_SSH="python tests/support/fake_ssh.py" rlcloud submit aws.yaml -- ...
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _mapping(variable: str) -> dict[str, str]:
    """'a=b,c=d' in the environment variable -> {'a': 'b', 'c': 'd'}."""
    return dict(pair.split("=", 1) for pair in os.environ.get(variable, "").split(",") if "=" in pair)


def main(argv: list[str]) -> int:
    record = os.environ.get("FAKE_SSH_RECORD")
    if record:
        with open(record, "a") as fh:
            fh.write(json.dumps(argv) + "\n")
    forward = argv[argv.index("-L") + 1]
    bind_host, local_port, _remote_host, remote_port = forward.split(":")
    destination = argv[-1]
    host = destination.split("@", 1)[-1]
    target_host = _mapping("FAKE_SSH_HOST_MAP").get(host, host)
    remote_port = _mapping("FAKE_SSH_PORT_MAP").get(remote_port, remote_port)
    if os.environ.get("FAKE_SSH_FAIL"):
        print(f"ssh: connect to host {host} port 22: Connection refused", file=sys.stderr)
        return 255
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((bind_host, int(local_port)))
    server.listen(16)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection((target_host, int(remote_port)))
        threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
