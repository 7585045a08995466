"""A real moto server on 127.0.0.1 (real AWS wire protocol), for code that must talk HTTP to
"AWS": Ray's own AWS node provider, subprocesses, pyarrow's S3 filesystem."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.ports import free_port

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-west-2",
}


@dataclass
class MotoServer:
    endpoint: str
    port: int
    _server: object

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should reach this server through the SDKs."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def reset(self) -> None:
        """Drop every resource (moto's own reset endpoint), so tests do not see each other's."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()

    def stop(self) -> None:
        self._server.stop()  # type: ignore[attr-defined]


def start_moto_server() -> MotoServer:
    from moto.server import ThreadedMotoServer

    from tests.cloudbox.aws.moto_gaps import patch_network_interfaces

    patch_network_interfaces()  # in this process, where the threaded server's moto runs
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return MotoServer(endpoint=f"http://127.0.0.1:{port}", port=port, _server=server)


def moto_server_fixture() -> Iterator[MotoServer]:
    """Body of the session fixture in tests/conftest.py: one server, credentials in env."""
    saved = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
