"""The one place Azure management clients are built, on the operator's machine and on the head.

Every client rlcloud (and its Ray node provider on the head) uses comes from `ArmClients`, so
one set of settings decides where they connect and how they authenticate:

- RLCLOUD_AZURE_ENDPOINT: Resource Manager base URL (default https://management.azure.com;
  sovereign clouds, or a local fake in tests). A plain-http endpoint is accepted only on
  loopback, and then no bearer token is attached (the SDK refuses tokens over http).
- RLCLOUD_AZURE_POLLING_INTERVAL: seconds between long-running-operation polls when Azure
  sends no Retry-After (the SDK's default is 30 s; tests use 0). The same value paces rlcloud's
  own waits for Azure AD replication.
- Credentials: DefaultAzureCredential (environment, workload identity, managed identity,
  az login, ...). On the head that is the cluster's managed identity, chosen by the
  AZURE_CLIENT_ID its start command exports.

This module is shipped to the head next to the node provider, so it imports only the standard
library and the Azure SDK (lazily: an SDK import costs about a second).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ENDPOINT_ENV = "RLCLOUD_AZURE_ENDPOINT"
POLLING_INTERVAL_ENV = "RLCLOUD_AZURE_POLLING_INTERVAL"
DEFAULT_ENDPOINT = "https://management.azure.com"
DEFAULT_POLLING_INTERVAL_S = 30.0


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ArmSettings:
    """Where and how to talk to Azure Resource Manager."""

    endpoint: str = DEFAULT_ENDPOINT
    polling_interval_s: float = DEFAULT_POLLING_INTERVAL_S

    @classmethod
    def from_env(cls) -> ArmSettings:
        endpoint = (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")
        parsed = urlparse(endpoint)
        if parsed.scheme not in ("https", "http") or (parsed.scheme == "http" and not _is_loopback(parsed.hostname)):
            raise ValueError(f"{ENDPOINT_ENV}={endpoint!r}: use https://, or http:// on a loopback address only")
        interval = os.environ.get(POLLING_INTERVAL_ENV)
        return cls(endpoint=endpoint, polling_interval_s=float(interval) if interval else DEFAULT_POLLING_INTERVAL_S)

    @property
    def insecure_local(self) -> bool:
        """A plain-http loopback endpoint: a local stand-in for ARM, which gets no token."""
        return self.endpoint.startswith("http://")


class _NoCredential:
    """Stands in for a TokenCredential where no token is ever sent (plain-http loopback)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("unused", 2**31 - 1)


class ArmClients:
    """Builds the management clients of one subscription with the same settings and credential."""

    def __init__(self, subscription_id: str, settings: ArmSettings | None = None) -> None:
        self.subscription_id = subscription_id
        self.settings = settings or ArmSettings.from_env()
        self._credential: TokenCredential | None = None
        self._cache: dict[str, Any] = {}

    # ------------------------------------------------------------------ plumbing
    def credential(self) -> TokenCredential:
        if self._credential is None:
            if self.settings.insecure_local:
                self._credential = _NoCredential()
            else:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
        return self._credential

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.settings.endpoint,
            "polling_interval": self.settings.polling_interval_s,
        }
        if self.settings.endpoint != DEFAULT_ENDPOINT and not self.settings.insecure_local:
            # Sovereign clouds take tokens for their own Resource Manager audience.
            options["credential_scopes"] = [self.settings.endpoint + "/.default"]
        if self.settings.insecure_local:
            from azure.core.pipeline.policies import SansIOHTTPPolicy

            options["authentication_policy"] = SansIOHTTPPolicy()
        return options

    def _client(self, key: str, factory: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = factory(self.credential(), self.subscription_id, **self.client_options())
        return self._cache[key]

    # ------------------------------------------------------------------ clients
    def resource(self) -> Any:
        try:
            from azure.mgmt.resource import ResourceManagementClient
        except ImportError:  # azure-mgmt-resource >= 25 moved it
            from azure.mgmt.resource.resources import ResourceManagementClient
        return self._client("resource", ResourceManagementClient)

    def network(self) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return self._client("network", NetworkManagementClient)

    def compute(self) -> Any:
        from azure.mgmt.compute import ComputeManagementClient

        return self._client("compute", ComputeManagementClient)

    def identity(self) -> Any:
        from azure.mgmt.msi import ManagedServiceIdentityClient

        return self._client("identity", ManagedServiceIdentityClient)

    def authorization(self) -> Any:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return self._client("authorization", AuthorizationManagementClient)
