"""The cluster's firewall rules on its VPC network, all aimed at the cluster's network tag.

- internal: every protocol from instances with the tag to instances with the tag (Ray's GCS,
  object manager and worker ports between nodes; Ray creates no firewall rules on GCP and a
  custom VPC has no default-allow-internal rule to lean on);
- ssh:      tcp:22 from the spec's CIDRs;
- deny:     every other ingress to the tag, at a lower priority than the two above but above
  the network's broad rules (the default VPC's default-allow-ssh admits 0.0.0.0/0 at
  priority 65534, which would make ssh_cidrs meaningless).
Firewall rules carry no labels, so each names its cluster in its description; `down` only
deletes rules whose description carries that marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import create_or_adopt, delete_if_present, describe_failure, gcp_call, read_or_none, wait
from provisioner.clouds.gcp.scope import Scope
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
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


def is_managed(existing: Any, cluster: str) -> bool:
    return naming.gcp_managed_marker(cluster) in (existing.description or "")


def get_rule(clients: GcpClients, name: str) -> Any | None:
    return read_or_none(f"reading firewall rule {name}", clients.project, lambda: clients.firewalls.get(project=clients.project, firewall=name))


def create_rule(clients: GcpClients, rule: FirewallRule) -> None:
    create_or_adopt(
        f"creating firewall rule {rule.name}",
        clients.project,
        lambda: wait(clients.firewalls.insert(project=clients.project, firewall_resource=rule.to_resource())),
    )


def update_rule(clients: GcpClients, rule: FirewallRule) -> None:
    """Replace the rule's fields (PUT), e.g. new ssh_cidrs."""
    with gcp_call(f"updating firewall rule {rule.name}", clients.project):
        wait(clients.firewalls.update(project=clients.project, firewall=rule.name, firewall_resource=rule.to_resource()))


def delete_rule(clients: GcpClients, name: str) -> bool:
    """Delete and wait; False when it was already gone."""
    return delete_if_present(
        f"deleting firewall rule {name}", clients.project, lambda: wait(clients.firewalls.delete(project=clients.project, firewall=name))
    )


class FirewallStep:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def _rules(self) -> list[FirewallRule]:
        return desired_rules(self.scope.spec, self.scope.ctx.ssh_cidrs)

    def _existing(self, rule: FirewallRule) -> Any | None:
        existing = get_rule(self.scope.clients, rule.name)
        if existing is not None and not is_managed(existing, self.scope.spec.name) and not self.scope.recorded(KIND, rule.name):
            raise CloudError(
                f"firewall rule {rule.name} exists but rlcloud did not create it for cluster {self.scope.spec.name}",
                hint=f"rename the cluster, or delete the rule: gcloud compute firewall-rules delete {rule.name} --project {self.scope.project}",
            )
        return existing

    def plan_up(self) -> list[PlannedResource]:
        planned = []
        for rule in self._rules():
            existing = self._existing(rule)
            summary = _summary(rule)
            if existing is None:
                planned.append(PlannedResource(kind=KIND, name=rule.name, action="create", detail=summary))
            elif changes := rule.drift(existing):
                planned.append(PlannedResource(kind=KIND, name=rule.name, action="update", detail="; ".join(changes)))
            else:
                planned.append(PlannedResource(kind=KIND, name=rule.name, action="keep", detail=summary))
        return planned

    def apply(self) -> None:
        for rule in self._rules():
            existing = self._existing(rule)
            if existing is None:
                self.scope.step(f"creating firewall rule {rule.name} ({_summary(rule)})")
                create_rule(self.scope.clients, rule)
            elif rule.drift(existing):
                self.scope.step(f"updating firewall rule {rule.name} ({'; '.join(rule.drift(existing))})")
                update_rule(self.scope.clients, rule)
            self.scope.record(KIND, rule.name)

    def _ours(self) -> list[str]:
        names = []
        for name in naming.gcp_firewall_rules(self.scope.spec.name):
            existing = get_rule(self.scope.clients, name)
            if existing is not None and (is_managed(existing, self.scope.spec.name) or self.scope.recorded(KIND, name)):
                names.append(name)
        return names

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        return [PlannedResource(kind=KIND, name=name, action="delete") for name in self._ours()]

    def destroy(self, purge_storage: bool) -> list[str]:
        left = []
        ours = self._ours()
        for name in naming.gcp_firewall_rules(self.scope.spec.name):
            if name in ours:
                self.scope.step(f"deleting firewall rule {name}")
                try:
                    delete_rule(self.scope.clients, name)
                except CloudError as exc:
                    left.append(
                        f"firewall rule {name}: {describe_failure(exc)} "
                        f"(gcloud compute firewall-rules delete {name} --project {self.scope.project} --quiet)"
                    )
                    continue
            self.scope.forget(KIND, name)
        return left


def _summary(rule: FirewallRule) -> str:
    verb = "allow" if rule.allowed else "deny"
    protocols = ",".join(p if not ports else f"{p}:{'/'.join(ports)}" for p, ports in (rule.allowed or rule.denied))
    source = ",".join(rule.source_ranges) if rule.source_ranges else "tag " + ",".join(rule.source_tags)
    return f"{verb} {protocols} from {source} to tag {','.join(rule.target_tags)}"
