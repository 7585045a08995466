"""Resolve `network.ssh_cidrs` at `up` time; `auto` is this machine's public IPv4 as a /32."""

from __future__ import annotations

import ipaddress
import os
import urllib.request

from provisioner.errors import CloudError

# Plain-text "what is my IP" services, tried in order.
IP_SERVICES = ("https://checkip.amazonaws.com", "https://api.ipify.org")
OVERRIDE_ENV = "RLCLOUD_PUBLIC_IP"  # for machines behind odd NATs, and for tests


def public_ip() -> str:
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return str(ipaddress.IPv4Address(override.strip()))
    errors = []
    for url in IP_SERVICES:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(ipaddress.IPv4Address(response.read().decode().strip()))
        except Exception as exc:  # network errors, bad answers
            errors.append(f"{url}: {exc}")
    raise CloudError(
        "could not find this machine's public IP for ssh_cidrs: auto (" + "; ".join(errors) + ")",
        hint=f"list CIDRs in network.ssh_cidrs, or set {OVERRIDE_ENV}",
    )


def resolve_ssh_cidrs(value: object) -> list[str]:
    if value == "auto":
        return [f"{public_ip()}/32"]
    assert isinstance(value, (list, tuple)), f"ssh_cidrs is 'auto' or a list, got {value!r}"
    return [str(c) for c in value]
