"""A Ray job that reports what the cluster's identities may do, for the cloud-box tests.

On the head (the job's driver) and in a task pinned to each worker node, it tries a compute
read and delete, and object writes inside and outside the checkpoint prefix, with the cloud's
plain SDK clients, which take the node's identity from the metadata service as on a real VM.
The cloud follows from the checkpoint URI's scheme. Prints one JSON line per node.

    rlcloud submit SPEC -- python tests/cloudbox/probes/least_privilege.py
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any


def _attempt(found: dict[str, Any], name: str, call: Callable[[], Any], refused: tuple[type[BaseException], ...], code: Callable[[Any], str]) -> None:
    try:
        call()
        found[name] = "allowed"
    except refused as exc:
        found[name] = code(exc)


def aws_attempts(bucket: str, prefix: str, found: dict[str, Any]) -> None:
    import boto3
    import botocore.exceptions

    found["identity"] = boto3.client("sts").get_caller_identity()["Arn"]

    def attempt(name: str, call: Callable[[], Any]) -> None:
        _attempt(found, name, call, (botocore.exceptions.ClientError,), lambda exc: exc.response["Error"]["Code"])

    ec2, s3 = boto3.client("ec2"), boto3.client("s3")
    attempt("ec2_describe_instances", lambda: ec2.describe_instances())
    attempt("ec2_terminate", lambda: ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"]))
    key = f"{prefix}/probe/{found['host']}.txt"
    attempt("s3_put_inside_prefix", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"probe"))
    attempt("s3_delete_inside_prefix", lambda: s3.delete_object(Bucket=bucket, Key=key))
    attempt("s3_put_outside_prefix", lambda: s3.put_object(Bucket=bucket, Key=f"elsewhere/{found['host']}.txt", Body=b"probe"))
    attempt("s3_list_buckets", lambda: s3.list_buckets())


def gcp_attempts(bucket: str, prefix: str, found: dict[str, Any]) -> None:
    import google.auth
    import google.auth.transport.requests
    from google.api_core import exceptions
    from google.api_core.client_options import ClientOptions
    from google.cloud import compute_v1, storage

    credentials, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    found["identity"] = getattr(credentials, "service_account_email", "")

    def attempt(name: str, call: Callable[[], Any]) -> None:
        _attempt(found, name, call, (exceptions.GoogleAPICallError,), lambda exc: f"{exc.code} {exc.reason or type(exc).__name__}")

    # A private endpoint where the image names one (the box); Google's otherwise.
    endpoint = os.environ.get("RLCLOUD_GCE_ENDPOINT")
    instances = compute_v1.InstancesClient(
        credentials=credentials, client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None, transport="rest"
    )
    zone = os.environ.get("RLCLOUD_PROBE_ZONE", "us-central1-a")
    attempt("compute_list_instances", lambda: list(instances.list(project=project, zone=zone)))
    attempt("compute_delete", lambda: instances.delete(project=project, zone=zone, instance="not-the-clusters"))
    objects = storage.Client(project=project, credentials=credentials).bucket(bucket)
    key = f"{prefix}/probe/{found['host']}.txt"
    attempt("gcs_put_inside_prefix", lambda: objects.blob(key).upload_from_string(b"probe"))
    attempt("gcs_delete_inside_prefix", lambda: objects.blob(key).delete())
    attempt("gcs_put_outside_prefix", lambda: objects.blob(f"elsewhere/{found['host']}.txt").upload_from_string(b"probe"))
    attempt("gcs_list_buckets", lambda: list(storage.Client(project=project, credentials=credentials).list_buckets()))


def _azure_code(exc: Any) -> str:
    """`403 AuthorizationFailed`: Blob's code (error_code), else Resource Manager's (error.code)."""
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None) or exc.reason
    return f"{exc.status_code} {code}"


def azure_attempts(account: str, rest: str, found: dict[str, Any]) -> None:
    """Azure: the VM's managed identity (AZURE_CLIENT_ID picks it, as the node's `ray start`
    exports it), its subscription and group from the instance metadata service."""
    import urllib.request

    from azure.core.exceptions import HttpResponseError
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.storage.blob import BlobServiceClient

    request = urllib.request.Request("http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01", headers={"Metadata": "true"})
    compute = json.loads(urllib.request.urlopen(request, timeout=5).read())
    container, _, prefix = rest.partition("/")
    credential = DefaultAzureCredential()
    found["identity"] = os.environ.get("AZURE_CLIENT_ID", "")

    def attempt(name: str, call: Callable[[], Any]) -> None:
        _attempt(found, name, call, (HttpResponseError,), _azure_code)

    # A private endpoint where the image names one (the box); Azure's otherwise.
    endpoint = os.environ.get("RLCLOUD_AZURE_ENDPOINT", "https://management.azure.com").rstrip("/")
    vms = ComputeManagementClient(
        credential, compute["subscriptionId"], base_url=endpoint, credential_scopes=[f"{endpoint}/.default"]
    ).virtual_machines
    group = compute["resourceGroupName"]
    attempt("compute_list_vms", lambda: list(vms.list(group)))
    attempt("compute_delete", lambda: vms.begin_delete(group, "not-the-clusters").result())
    template = os.environ.get("RLCLOUD_AZURE_BLOB_ENDPOINT", "https://{account}.blob.core.windows.net")
    url = template.replace("{account}", account) if "{account}" in template else f"{template.rstrip('/')}/{account}"
    service = BlobServiceClient(url, credential=credential)
    key = f"{prefix}/probe/{found['host']}.txt"
    attempt("blob_put_inside_container", lambda: service.get_blob_client(container, key).upload_blob(b"probe", overwrite=True))
    attempt("blob_delete_inside_container", lambda: service.get_blob_client(container, key).delete_blob())
    attempt("blob_put_other_container", lambda: service.get_blob_client(f"{container}-other", key).upload_blob(b"probe", overwrite=True))
    attempt("blob_list_containers", lambda: list(service.list_containers()))


def attempts() -> dict[str, Any]:
    uri = os.environ["RLCLOUD_CHECKPOINT_URI"]
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    found: dict[str, Any] = {"host": socket.gethostname()}
    {"s3": aws_attempts, "gs": gcp_attempts, "az": azure_attempts}[scheme](bucket, prefix.rstrip("/"), found)
    return found


def main() -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray.init()
    head = {"where": "head (driver)", **attempts()}
    worker_nodes = [n for n in ray.nodes() if n["Alive"] and "node:__internal_head__" not in n["Resources"]]
    print(json.dumps(head))
    for node in worker_nodes:
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        on_worker = ray.get(ray.remote(attempts).options(num_cpus=0, scheduling_strategy=strategy).remote())
        print(json.dumps({"where": f"worker {node['NodeManagerAddress']}", **on_worker}))


if __name__ == "__main__":
    main()
