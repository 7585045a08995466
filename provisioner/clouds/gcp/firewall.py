"""The cluster's firewall rules on its VPC network, all aimed at the cluster's network tag.

- internal: every protocol from instances with the tag to instances with the tag (Ray's GCS,
  object manager and worker ports between nodes; Ray creates no firewall rules on GCP and a
  custom VPC has no default-allow-internal rule to lean on);
- ssh:      tcp:22 from the spec's CIDRs;
- deny:     every other ingress to the tag, at a lower priority than the two above but above
  the network's broad rules (the default VPC's default-allow-ssh admits 0.0.0.0/0 at
  priority 65534, which would make ssh_cidrs meaningless).
Firewall rules carry no labels, so each names its cluster in its description
(provisioner/clouds/ownership.py); `up` refuses, and `down` leaves alone, a rule of the same
name without that marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import wait
from provisioner.clouds.ownership import description_says_ours
from provisioner.clouds.reconcile import Resource
from provisioner.spec.models import GcpClusterSpec

KIND = "firewall_rule"

ALLOW_PRIORITY = 900
DENY_PRIORITY = 1000  # below our allows; at or above every rule left at GCE's default 1000
ANYWHERE = "0.0.0.0/0"

Protocols = tuple[tuple[str, tuple[str, ...]], ...]  # ((IPProtocol, ports), ...)


@dataclass(frozen=True)
class FirewallRule:
    """The shape rlcloud wants one rule to have."""

    name: str
    network: str  # projects/P/global/networks/N
    description: str
    priority: int
    target_tags: tuple[str, ...]
    source_ranges: tuple[str, ...] = ()
    source_tags: tuple[str, ...] = ()
    allowed: Protocols = ()
    denied: Protocols = ()

    def to_resource(self) -> Any:
        from google.cloud import compute_v1

        def protocols(cls: Any, entries: Protocols) -> list[Any]:
            return [cls(I_p_protocol=proto, ports=list(ports)) for proto, ports in entries]

        return compute_v1.Firewall(
            name=self.name,
            network=self.network,
            description=self.description,
            direction="INGRESS",
            priority=self.priority,
            target_tags=list(self.target_tags),
            source_ranges=list(self.source_ranges),
            source_tags=list(self.source_tags),
            allowed=protocols(compute_v1.Allowed, self.allowed),
            denied=protocols(compute_v1.Denied, self.denied),
        )

    def drift(self, existing: Any) -> list[str]:
        """How `existing` differs from this shape, field by field (empty when it matches)."""
        found = _comparable(
            existing.network,
            existing.direction,
            existing.priority,
            existing.disabled,
            existing.target_tags,
            existing.source_ranges,
            existing.source_tags,
            [(e.I_p_protocol, tuple(e.ports)) for e in existing.allowed],
            [(e.I_p_protocol, tuple(e.ports)) for e in existing.denied],
        )
        want = _comparable(
            self.network,
            "INGRESS",
            self.priority,
            False,
            self.target_tags,
            self.source_ranges,
            self.source_tags,
            self.allowed,
            self.denied,
        )
        return [f"{key}: {_show(found[key])} -> {_show(want[key])}" for key in want if found[key] != want[key]]


def _comparable(network: str, direction: str, priority: int, disabled: bool, *sets: Any) -> dict[str, Any]:
    # GCE answers with the network's full URL; compare by name. Lists compare as sets.
    names = ("targetTags", "sourceRanges", "sourceTags", "allowed", "denied")
    fields: dict[str, Any] = {
        "network": network.rsplit("/global/networks/", 1)[-1],
        "direction": direction,
        "priority": priority,
        "disabled": disabled,
    }
    fields.update({name: set(values) for name, values in zip(names, sets)})
    return fields


def _show(value: Any) -> str:
    return ",".join(sorted(map(str, value))) if isinstance(value, set) else str(value)


def desired_rules(spec: GcpClusterSpec, ssh_cidrs: list[str]) -> list[FirewallRule]:
    """The three rules, in creation order (allows before the deny)."""
    tag = naming.gcp_network_tag(spec.name)
    network = f"projects/{spec.project}/global/networks/{spec.network.network}"
    marker = naming.gcp_managed_marker(spec.name)
    internal, ssh, deny = naming.gcp_firewall_rules(spec.name)
    return [
        FirewallRule(
            name=internal,
            network=network,
            description=f"{marker} Ray traffic between the nodes of rlcloud cluster {spec.name}",
            priority=ALLOW_PRIORITY,
            target_tags=(tag,),
            source_tags=(tag,),
            allowed=(("all", ()),),
        ),
        FirewallRule(
            name=ssh,
            network=network,
            description=f"{marker} SSH to rlcloud cluster {spec.name} from network.ssh_cidrs",
            priority=ALLOW_PRIORITY,
            target_tags=(tag,),
            source_ranges=tuple(ssh_cidrs),
            allowed=(("tcp", ("22",)),),
        ),
        FirewallRule(
            name=deny,
            network=network,
            description=f"{marker} No other ingress to rlcloud cluster {spec.name}",
            priority=DENY_PRIORITY,
            target_tags=(tag,),
            source_ranges=(ANYWHERE,),
            denied=(("all", ()),),
        ),
    ]


def rule_resources(clients: GcpClients, spec: GcpClusterSpec, ssh_cidrs: list[str]) -> list[Resource[Any]]:
    """The three rules as the reconciler runs them (`down` needs only names and marks, so
    any `ssh_cidrs` will do there)."""
    return [_resource(clients, spec.name, rule) for rule in desired_rules(spec, ssh_cidrs)]


def _resource(clients: GcpClients, cluster: str, rule: FirewallRule) -> Resource[Any]:
    project, name = clients.project, rule.name

    def read() -> Any:
        return clients.firewalls.get(project=project, firewall=name)

    def create() -> Any:
        wait(clients.firewalls.insert(project=project, firewall_resource=rule.to_resource()))
        return read()

    def update(_: Any) -> Any:
        # A PUT replaces every field (e.g. new ssh_cidrs), so the rule is exactly the spec's.
        wait(clients.firewalls.update(project=project, firewall=name, firewall_resource=rule.to_resource()))
        return read()

    return Resource(
        kind=KIND,
        name=name,
        read=read,
        create=create,
        update=update,
        delete=lambda _: wait(clients.firewalls.delete(project=project, firewall=name)),
        drift=lambda found: "; ".join(rule.drift(found)) or None,
        owned=lambda found: description_says_ours(found.description, cluster),
        detail=_summary(rule),
        foreign_hint=f"rename the cluster, or delete the rule: gcloud compute firewall-rules delete {name} --project {project}",
        delete_command=f"gcloud compute firewall-rules delete {name} --project {project} --quiet",
    )


def _summary(rule: FirewallRule) -> str:
    verb = "allow" if rule.allowed else "deny"
    protocols = ",".join(p if not ports else f"{p}:{'/'.join(ports)}" for p, ports in (rule.allowed or rule.denied))
    source = ",".join(rule.source_ranges) if rule.source_ranges else "tag " + ",".join(rule.source_tags)
    return f"{verb} {protocols} from {source} to tag {','.join(rule.target_tags)}"
