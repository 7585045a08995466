"""Azure's NSG decision for an inbound packet, from the rules as ARM returns them: custom and
default rules together in priority order, the first that matches decides. The security audit
asks this, rather than reading rules one by one, so a rule that is right on its own but
shadowed (or an Azure default that lets traffic in) cannot slip past.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

AZURE_LOAD_BALANCER = "168.63.129.16"


@dataclass(frozen=True)
class Network:
    """What Azure's service tags stand for around this NSG."""

    virtual_network: tuple[str, ...]  # the VNet, plus peered / VPN-connected ranges

    def matches(self, prefix: str, ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        tag = prefix.lower()
        if tag == "*":
            return True
        if tag == "virtualnetwork":
            return any(address in ipaddress.ip_network(n) for n in self.virtual_network)
        if tag == "azureloadbalancer":
            return ip == AZURE_LOAD_BALANCER
        if tag == "internet":
            return address.is_global
        return address in ipaddress.ip_network(prefix)


def _values(props: dict[str, Any], single: str, plural: str) -> list[str]:
    return [*(props.get(plural) or []), *([props[single]] if props.get(single) else [])]


def _port_matches(ranges: list[str], port: int) -> bool:
    for text in ranges:
        if text == "*":
            return True
        low, _, high = text.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def inbound(nsg: dict[str, Any], network: Network, source: str, destination: str, port: int, protocol: str = "Tcp") -> str:
    """ "Allow" or "Deny", and the rule that decided, as Azure would evaluate it."""
    rules = [*nsg["properties"].get("securityRules", []), *nsg["properties"].get("defaultSecurityRules", [])]
    for rule in sorted((r for r in rules if r["properties"]["direction"] == "Inbound"), key=lambda r: r["properties"]["priority"]):
        p = rule["properties"]
        if p["protocol"] not in ("*", protocol):
            continue
        if not any(network.matches(s, source) for s in _values(p, "sourceAddressPrefix", "sourceAddressPrefixes")):
            continue
        if not any(network.matches(d, destination) for d in _values(p, "destinationAddressPrefix", "destinationAddressPrefixes")):
            continue
        if not _port_matches(_values(p, "destinationPortRange", "destinationPortRanges"), port):
            continue
        return f"{p['access']} ({rule['name']})"
    raise AssertionError("Azure's default rules always decide; the NSG has none")
