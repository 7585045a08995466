"""boto3 clients for one region, built the same way for every AWS call rlcloud makes.

- Retries: botocore's `standard` mode with a larger attempt budget, so throttling
  (Throttling, RequestLimitExceeded, SlowDown, 5xx) is retried with jittered backoff and
  never reaches the user as an error unless AWS keeps refusing.
- The endpoint comes from the SDK's usual places (AWS_ENDPOINT_URL, profiles), which is
  how tests and benchmarks point rlcloud at a moto server.
- `on_new_client` lets a caller attach botocore event handlers to every client rlcloud
  creates from now on: the benchmark counts API calls with it, tests inject AWS-side
  failures and stand in for APIs moto lacks. It observes clients; it changes no logic here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Attempts per call, first try included. Standard mode sleeps min(20 s, random * 2**n)
# between attempts, so 8 attempts ride out about a minute of sustained throttling.
MAX_ATTEMPTS = 8

ClientHook = Callable[["BaseClient"], None]
_client_hooks: list[ClientHook] = []
_hooks_lock = threading.Lock()
_loader: Any = None


def _shared_loader() -> Any:
    """One botocore data loader per process: parsing the EC2 service model costs ~0.2 s, and
    a fresh botocore session would parse it again for every client."""
    global _loader
    with _hooks_lock:
        if _loader is None:
            from botocore.loaders import create_loader

            _loader = create_loader()
        return _loader


@contextmanager
def on_new_client(hook: ClientHook) -> Iterator[None]:
    """Call `hook(client)` for every client created while the context is open."""
    with _hooks_lock:
        _client_hooks.append(hook)
    try:
        yield
    finally:
        with _hooks_lock:
            _client_hooks.remove(hook)


@dataclass
class AwsSession:
    """Clients of one region, created on first use and shared (boto3 clients are thread-safe)."""

    region: str
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _identity: dict[str, str] | None = None

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    def _new_client(self, service: str) -> Any:
        import boto3
        import botocore.session
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="rlcloud",
        )
        # A new botocore session per AwsSession (credentials are resolved afresh), sharing
        # the parsed service models.
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        client = boto3.session.Session(botocore_session=core).client(service, config=config)
        with _hooks_lock:
            hooks = list(_client_hooks)
        for hook in hooks:
            hook(client)
        return client

    ec2 = property(lambda self: self.client("ec2"))
    iam = property(lambda self: self.client("iam"))
    s3 = property(lambda self: self.client("s3"))
    ssm = property(lambda self: self.client("ssm"))

    def identity(self) -> dict[str, str]:
        """Account id and partition of the credentials in use (one STS call, cached)."""
        if self._identity is None:
            arn = self.client("sts").get_caller_identity()
            self._identity = {"account": arn["Account"], "partition": arn["Arn"].split(":")[1]}
        return self._identity

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        ident = self.identity()
        return ":".join(["arn", ident["partition"], service, self.region if region else "", ident["account"] if account else "", resource])
