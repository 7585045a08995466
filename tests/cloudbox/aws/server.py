"""The AWS box server: runs inside the core namespace (started by tests/cloudbox/box.py
through nsenter) and serves, on box addresses only:
- https://CORE_IP  the AWS API (moto, its gaps filled, IAM enforced, every call in the trail);
- http://169.254.169.254  the instance metadata service;
and turns instances into VMs. Its control socket (state dir) answers the host's commands.

    python -m tests.cloudbox.aws.server --state-dir DIR --cidr 172.31.0.0/16 --region us-west-2
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# moto reads these when it is imported.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

from tests.cloudbox import network, serving
from tests.cloudbox.vm import VmHost
from tests.support.tls import make_tls_files

API_PORT = 443

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _wsgi(app: WsgiApp, trail: Any) -> WsgiApp:
    """Refuse moto's own /moto-api (a VM could reset the account with it) and give every
    request a trail record that authorization fills in."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"the cloud box does not serve moto's management API\n"]
        trail.begin(environ.get("REMOTE_ADDR", ""), environ.get("REQUEST_METHOD", ""), path)
        status = [0]

        def recording_start_response(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = int(status_line.split()[0])
            return start_response(status_line, headers, exc_info)

        try:
            return list(app(environ, recording_start_response))
        finally:
            trail.end(status[0])

    return wrapped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cidr", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    state: Path = args.state_dir
    layout = network.Layout.for_cidr(args.cidr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from tests.cloudbox.aws import account, enforcement, moto_gaps
    from tests.cloudbox.aws import machines as aws_machines
    from tests.cloudbox.aws.imds import MetadataService, serve
    from tests.cloudbox.aws.trail import TRAIL_FILE, Trail
    from tests.cloudbox.machines import Faults, Machines

    moto_gaps.apply()
    trail = Trail(state / TRAIL_FILE)
    enforcement.install(trail)
    admin = account.create_admin()
    files = make_tls_files(state, [layout.core_ip])

    api = make_server(
        layout.core_ip,
        API_PORT,
        _wsgi(DomainDispatcherApplication(create_backend_app), trail),
        threaded=True,
        request_handler=MotoRequestHandler,
        ssl_context=(str(files.cert_file), str(files.key_file)),
    )
    threading.Thread(target=api.serve_forever, name="api", daemon=True).start()
    metadata = MetadataService(account.InstanceCredentials())
    imds = serve(metadata, network.METADATA_IP)

    host = VmHost(state, layout)
    faults = Faults()
    env = serving.image_env({"AWS_ENDPOINT_URL": f"https://{layout.core_ip}", "AWS_CA_BUNDLE": str(files.ca_file)})
    machines = Machines(host, lambda: aws_machines.instances(env, faults))
    endpoint = f"https://{layout.core_ip}"
    serving.run_box(
        state,
        cloud="aws",
        host=host,
        machines=machines,
        faults=faults,
        servers=[api, imds],
        endpoint=endpoint,
        ca_cert=files.ca_file,
        env={
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CA_BUNDLE": str(files.ca_file),
            "AWS_ACCESS_KEY_ID": admin.access_key_id,
            "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
            "AWS_SESSION_TOKEN": "",
            "AWS_DEFAULT_REGION": args.region,
            "AWS_REGION": args.region,
        },
    )


if __name__ == "__main__":
    main()
