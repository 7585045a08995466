"""The cluster's network security group rules, and how to tell whether an NSG still has them.

Inbound, in priority order (lower number wins):
  100  SSH (TCP 22) from the spec's CIDRs to the cluster subnet: the only way in from outside.
  110  everything from the cluster subnet to the cluster subnet: Ray's GCS, object manager,
       worker ports, NCCL; "within the cluster" is the subnet, nothing wider.
  4096 deny everything else. Azure's built-in defaults would otherwise let in the whole VNet
       (plus peered VNets and VPN-connected networks: AllowVnetInBound, 65000) and the load
       balancer (65001); this rule shadows both, so no Ray port is reachable from outside
       the subnet even inside the customer's network.
Outbound stays at Azure's default (allow), which nodes need for pip, the image registry and S3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SSH_PRIORITY = 100
INTRA_PRIORITY = 110
DENY_PRIORITY = 4096  # the lowest priority a custom rule may have


@dataclass(frozen=True)
class SecurityRule:
    """One rule in comparable form: address and port lists as sorted tuples, words in ARM's case."""

    name: str
    priority: int
    direction: str
    access: str
    protocol: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]

    def arm(self) -> dict[str, Any]:
        """ARM JSON for this rule. One value goes in the singular field: Azure rejects '*' and
        service tags inside the plural lists."""
        return {
            "name": self.name,
            "properties": {
                "priority": self.priority,
                "direction": self.direction,
                "access": self.access,
                "protocol": self.protocol,
                "sourcePortRange": "*",
                **_field("sourceAddressPrefix", "sourceAddressPrefixes", self.sources),
                **_field("destinationAddressPrefix", "destinationAddressPrefixes", self.destinations),
                **_field("destinationPortRange", "destinationPortRanges", self.ports),
                "description": "managed by rlcloud",
            },
        }


def _field(single: str, plural: str, values: tuple[str, ...]) -> dict[str, Any]:
    return {single: values[0]} if len(values) == 1 else {plural: list(values)}


def desired_rules(ssh_cidrs: Iterable[str], cluster_prefix: str) -> list[SecurityRule]:
    cidrs = tuple(sorted({str(c) for c in ssh_cidrs}))
    return [
        SecurityRule("rlcloud-ssh", SSH_PRIORITY, "Inbound", "Allow", "Tcp", cidrs, (cluster_prefix,), ("22",)),
        SecurityRule("rlcloud-intra-cluster", INTRA_PRIORITY, "Inbound", "Allow", "*", (cluster_prefix,), (cluster_prefix,), ("*",)),
        SecurityRule("rlcloud-deny-inbound", DENY_PRIORITY, "Inbound", "Deny", "*", ("*",), ("*",), ("*",)),
    ]


def _both(props: Mapping[str, Any], single: str, plural: str) -> tuple[str, ...]:
    """Azure may store a one-element list in the singular field and vice versa; read both."""
    values = list(props.get(plural) or [])
    if props.get(single):
        values.append(props[single])
    return tuple(sorted(set(values)))


def rule_from_arm(rule: Mapping[str, Any]) -> SecurityRule:
    props = rule.get("properties") or {}
    return SecurityRule(
        name=str(rule.get("name")),
        priority=int(props.get("priority") or 0),
        direction=str(props.get("direction") or "").capitalize(),
        access=str(props.get("access") or "").capitalize(),
        protocol="*" if props.get("protocol") in (None, "*") else str(props["protocol"]).capitalize(),
        sources=_both(props, "sourceAddressPrefix", "sourceAddressPrefixes"),
        destinations=_both(props, "destinationAddressPrefix", "destinationAddressPrefixes"),
        ports=_both(props, "destinationPortRange", "destinationPortRanges"),
    )


def rules_of(nsg: Mapping[str, Any]) -> list[SecurityRule]:
    return [rule_from_arm(r) for r in (nsg.get("properties") or {}).get("securityRules") or []]


def rules_drift(nsg: Mapping[str, Any], desired: list[SecurityRule]) -> str | None:
    """What differs between an NSG's rules and the desired ones (None when they match).
    Rules that are not ours count as drift: an extra allow rule could expose a Ray port."""
    have = {r.name: r for r in rules_of(nsg)}
    want = {r.name: r for r in desired}
    changes = [f"add {n}" for n in want if n not in have]
    changes += [f"change {n}" for n in want if n in have and have[n] != want[n]]
    changes += [f"remove {n}" for n in have if n not in want]
    return ", ".join(changes) or None
