"""Every Google SDK client rlcloud uses, built in one place.

Compute Engine goes through google-cloud-compute (REST transport). IAM service accounts and
project IAM policies go through google-api-python-client's bundled discovery documents: the
google-cloud-iam admin client speaks only gRPC, and one client library for both keeps policy
handling in plain dicts. Storage goes through google-cloud-storage.

Endpoints can be overridden from the environment (RLCLOUD_GCE_ENDPOINT, ...): that is how
the tests drive these real clients against a local fake of the REST APIs, and how a private
endpoint is reached. Every service uses Application Default Credentials (a key file, gcloud's
login, or a VM's metadata server); an overridden one with none to find is an emulator and gets
anonymous credentials.
SDKs are imported inside the functions that build clients, so `rlcloud --help` stays fast;
provisioner/drivers/gcp.py names them and provisioner/lazy.py checks they are installed
before this provisioner is built.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from provisioner.errors import CloudError

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# service -> environment variable holding a replacement endpoint (scheme://host:port).
ENDPOINT_ENV = {
    "compute": "RLCLOUD_GCE_ENDPOINT",
    "iam": "RLCLOUD_IAM_ENDPOINT",
    "crm": "RLCLOUD_CRM_ENDPOINT",
    "storage": "RLCLOUD_GCS_ENDPOINT",
}


def endpoint_override(service: str) -> str | None:
    value = os.environ.get(ENDPOINT_ENV[service], "").strip()
    return value.rstrip("/") or None


def application_default_credentials() -> Any:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError as exc:
        raise CloudError(
            f"no Google Cloud credentials found ({str(exc).splitlines()[0]})",
            hint="run `gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS at a service account key file",
        ) from None
    return credentials


class GcpClients:
    """Lazily built clients for one project; each is created on first use."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._adc: Any = None

    def credentials(self, service: str) -> Any:
        if self._adc is None:
            try:
                self._adc = application_default_credentials()
            except CloudError:
                if not endpoint_override(service):
                    raise
                from google.auth.credentials import AnonymousCredentials

                return AnonymousCredentials()  # type: ignore[no-untyped-call]  # an emulator: nothing to sign requests with
        return self._adc

    # ------------------------------------------------------------------ Compute Engine
    def compute(self, client_name: str) -> Any:
        """A google-cloud-compute client by class name (e.g. "FirewallsClient"), built once."""
        cache: dict[str, Any] = self.__dict__.setdefault("_compute_clients", {})
        if client_name not in cache:
            from google.api_core.client_options import ClientOptions
            from google.cloud import compute_v1

            endpoint = endpoint_override("compute")
            cache[client_name] = getattr(compute_v1, client_name)(
                credentials=self.credentials("compute"),
                client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None,
                transport="rest",
            )
        return cache[client_name]

    firewalls = property(lambda self: self.compute("FirewallsClient"))
    resource_policies = property(lambda self: self.compute("ResourcePoliciesClient"))
    instances = property(lambda self: self.compute("InstancesClient"))
    networks = property(lambda self: self.compute("NetworksClient"))
    subnetworks = property(lambda self: self.compute("SubnetworksClient"))
    images = property(lambda self: self.compute("ImagesClient"))

    # ------------------------------------------------------------------ IAM, Resource Manager
    def _discovery(self, service: str, name: str, version: str) -> Any:
        from googleapiclient import discovery

        endpoint = endpoint_override(service)
        return discovery.build(
            name,
            version,
            credentials=self.credentials(service),
            client_options={"api_endpoint": endpoint + "/"} if endpoint else None,
            static_discovery=True,  # the bundled document: no fetch from googleapis.com
            cache_discovery=False,
        )

    @cached_property
    def iam(self) -> Any:
        """IAM v1: `.projects().serviceAccounts()` (accounts and their own IAM policy)."""
        return self._discovery("iam", "iam", "v1")

    @cached_property
    def resource_manager(self) -> Any:
        """Resource Manager v3: `.projects()` getIamPolicy / setIamPolicy."""
        return self._discovery("crm", "cloudresourcemanager", "v3")

    # ------------------------------------------------------------------ Cloud Storage
    @cached_property
    def storage(self) -> Any:
        from google.cloud import storage  # type: ignore[attr-defined]  # a namespace package mypy cannot see into

        endpoint = endpoint_override("storage")
        return storage.Client(
            project=self.project,
            credentials=self.credentials("storage"),
            client_options={"api_endpoint": endpoint} if endpoint else None,
        )
