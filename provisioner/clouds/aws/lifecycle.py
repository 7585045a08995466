"""The AWS verbs behind the shared cloud flow (backends/cloud.py): plan_up, apply, plan_down,
destroy, head_address, on the shared reconciler (provisioner/clouds/reconcile.py).

`plan` and `up` run one code path (`_up`): read-only facts first (network, images,
instance-type facts), then each resource declared in its module and run by
`Reconciler.ensure`, in this order: key pair -> security group -> placement group -> IAM
roles, policies and profiles -> checkpoint bucket; `up` then waits until EC2 accepts new
profiles. Each resource is recorded in the cluster state the moment it exists (those made of
several calls, from inside their create), so a failure at any step leaves a state the next
`up` finishes and `down` removes. A second `up` of an unchanged cluster makes only
Describe/Get/List/Head calls.

`down` hands the reconciler a survey of what exists: the nodes found by tag (instances Ray
launched included) and the declared resources found by name, tag or state; it deletes them
in reverse dependency order and reports what is left with the `aws ...` command for each.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds import ownership
from provisioner.clouds.aws import bucket, identity, inventory, keypair, placement, security_group, tags
from provisioner.clouds.aws.errors import ERRORS, unless_missing
from provisioner.clouds.aws.identity import UNKNOWN
from provisioner.clouds.aws.images import Image, resolve_images
from provisioner.clouds.aws.instance_types import check_node_types
from provisioner.clouds.aws.network import Network, resolve_network
from provisioner.clouds.aws.policies import Checkpoints, LaunchScope, head_policy, worker_policy
from provisioner.clouds.aws.propagation import launch_request, wait_until_launchable
from provisioner.clouds.aws.session import AwsSession
from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.reconcile import Reconciler, Resource, gone, used
from provisioner.compile.aws import node_config, use_internal_ips
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.refs import AwsRefs
from provisioner.spec.models import AwsClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes
from provisioner.state import CloudResource

Json = dict[str, Any]
RecordNow = Callable[[str, Json], None]
KEPT_BUCKET = "checkpoints kept; --purge-storage deletes them"


def checkpoints(spec: AwsClusterSpec) -> Checkpoints | None:
    if spec.storage.scheme != "s3" or not spec.storage.bucket:
        return None
    return Checkpoints(bucket=spec.storage.bucket, prefix=spec.storage.prefix)


@dataclass
class Facts:
    """The read-only facts plan and up start from: where nodes go and what they boot."""

    nodes: list[ResolvedNode]
    network: Network
    images: dict[str, Image]
    network_cards: dict[str, int]

    @property
    def needs_placement_group(self) -> bool:
        return any(n.placement for n in self.nodes)


@dataclass
class _Up:
    """What one run of `_up` leaves: the engine (its plan), the refs, the profiles to wait for."""

    engine: Reconciler
    refs: AwsRefs
    facts: Facts
    pending_profiles: list[str]  # ARNs EC2 may not accept yet


class AwsProvisioner:
    cloud = "aws"

    def __init__(self) -> None:
        # `up` plans, asks, then applies with the same provisioner: the facts (network, AMIs,
        # instance-type facts) do not change in between and are read once. Resources
        # themselves are always read again before acting.
        self._facts: dict[str, Facts] = {}

    # ------------------------------------------------------------------ shared reads
    @staticmethod
    def _spec(ctx: ProvisionContext) -> AwsClusterSpec:
        assert isinstance(ctx.spec, AwsClusterSpec)
        return ctx.spec

    @staticmethod
    def _session(spec: AwsClusterSpec) -> AwsSession:
        return AwsSession(region=spec.region)

    def _read_facts(self, aws: AwsSession, spec: AwsClusterSpec) -> Facts:
        key = spec.model_dump_json()
        if key not in self._facts:
            nodes = resolve_nodes(spec)
            network = resolve_network(aws.ec2, spec, use_internal_ips(spec, nodes))
            images = resolve_images(aws.ec2, aws.ssm, [n.image for n in nodes], spec.region)
            cards = check_node_types(aws.ec2, nodes, images)
            self._facts[key] = Facts(nodes=nodes, network=network, images=images, network_cards=cards)
        return self._facts[key]

    @staticmethod
    def _policies(aws: AwsSession, spec: AwsClusterSpec, facts: Facts, group_id: str | None) -> dict[str, Any]:
        """Desired inline policy per node role; the head's is UNKNOWN while the group does not exist."""
        with ERRORS.calls("reading the AWS account id (sts get-caller-identity)"):
            ident = aws.identity()
        ckpt = checkpoints(spec)
        head: Any = UNKNOWN
        if group_id is not None:
            scope = LaunchScope(
                partition=ident["partition"],
                region=spec.region,
                account=ident["account"],
                cluster=spec.name,
                subnet_id=facts.network.subnet_id,
                security_group_id=group_id,
                key_name=naming.aws_key_pair(spec.name),
                placement_group=naming.aws_placement_group(spec.name) if facts.needs_placement_group else None,
                worker_role_arn=aws.arn("iam", f"role/{naming.aws_role(spec.name)}", region=False),
            )
            head = head_policy(scope, ckpt)
        return {"worker": worker_policy(ident["partition"], ckpt), "head": head}

    # ------------------------------------------------------------------ plan and up
    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        return self._up(ctx, apply=False).engine.planned

    def apply(self, ctx: ProvisionContext) -> AwsRefs:
        if ctx.ssh_public_key is None:
            raise CloudError("no SSH public key to import", hint="this is an rlcloud bug: `up` generates one first")
        done = self._up(ctx, apply=True)
        if done.pending_profiles:
            self._wait_launchable(ctx, done)
        return done.refs

    def _up(self, ctx: ProvisionContext, apply: bool) -> _Up:
        spec = self._spec(ctx)
        aws = self._session(spec)
        facts = self._read_facts(aws, spec)
        net = facts.network
        engine = Reconciler(ctx=ctx, errors=ERRORS, apply=apply, region=spec.region)
        # What the cluster uses and rlcloud never changes: shown as "use", not recorded.
        engine.ensure(used("vpc", net.vpc_id, net, "default VPC" if net.vpc_is_default else "from the spec"))
        engine.ensure(used("subnet", net.subnet_id, net, net.zone + (", picked by rlcloud" if net.subnet_chosen else "")))
        for written, img in sorted(facts.images.items()):
            engine.ensure(used("image", img.ami_id, img, f"{written or 'default'}: {img.name}".strip()))
        refs = AwsRefs(
            subnet_id=net.subnet_id,
            images={w: img.ami_id for w, img in facts.images.items()},
            root_device_names={img.ami_id: img.root_device for img in facts.images.values()},
            network_cards=facts.network_cards,
        )

        engine.ensure(keypair.declare(aws.ec2, spec.name, spec.region, ctx.ssh_public_key))
        if spec.network.security_group_id:
            engine.ensure(security_group.declare_users(aws.ec2, spec.network.security_group_id, net.vpc_id))
            refs.security_group_id = spec.network.security_group_id
        else:
            group = engine.ensure(
                security_group.declare(aws.ec2, spec.name, spec.region, net.vpc_id, ctx.ssh_cidrs, _record_now(ctx, spec.region, security_group.KIND))
            )
            refs.security_group_id = str(group["GroupId"]) if group else None
        if facts.needs_placement_group:
            engine.ensure(placement.declare(aws.ec2, spec.name, spec.region))
        pending = self._identities(ctx, engine, aws, facts, refs)
        ckpt = checkpoints(spec)
        if ckpt is not None:
            engine.ensure(self._bucket(ctx, aws, ckpt.bucket))
        return _Up(engine=engine, refs=refs, facts=facts, pending_profiles=pending)

    def _identities(self, ctx: ProvisionContext, engine: Reconciler, aws: AwsSession, facts: Facts, refs: AwsRefs) -> list[str]:
        """Set refs' instance profiles; return the ARNs of profiles EC2 may not accept yet."""
        spec = self._spec(ctx)
        if spec.identity.instance_profile:
            found = engine.ensure(identity.declare_users_profile(aws.iam, spec.identity.instance_profile))
            refs.instance_profile = str(found["Arn"]) if found else None
            return []
        policies = self._policies(aws, spec, facts, refs.security_group_id)
        # Not launchable yet: created or changed now, or by an `up` that stopped before EC2
        # accepted it (recorded `launchable: False`).
        pending = {r.id for r in ctx.state.resources if r.kind == identity.PROFILE and r.extra.get("launchable") is False}
        arns: list[str] = []
        for ident in identity.node_identities(spec.name):
            engine.ensure(
                identity.declare_role(
                    aws.iam, spec.name, ident.role, ident.role_name, policies[ident.role], _record_now(ctx, spec.region, identity.ROLE)
                )
            )
            if engine.planned[-1].action == "create":  # a new role: its profile waits for it too
                pending.add(ident.profile_name)
            profile = engine.ensure(identity.declare_profile(aws.iam, spec.name, ident, pending, _record_now(ctx, spec.region, identity.PROFILE)))
            if profile is None:  # planning a first `up`
                continue
            arn = str(profile["Arn"])
            if engine.apply and ident.profile_name in pending:
                with ERRORS.calls(f"waiting for IAM role {ident.role_name} and profile {ident.profile_name}"):
                    identity.wait_until_visible(aws.iam, ident)
                arns.append(arn)
            if ident.role == "head":
                refs.head_instance_profile = arn
            else:
                refs.instance_profile = arn
        return arns

    def _bucket(self, ctx: ProvisionContext, aws: AwsSession, name: str) -> Resource[Json]:
        """The checkpoint bucket's declaration: rlcloud's (created now, or earlier: recorded or
        tagged), or the user's (used as is)."""
        spec = self._spec(ctx)
        recorded = any(r.kind == bucket.KIND and r.id == name and r.created for r in ctx.state.resources)
        with ERRORS.calls(f"read bucket {name}"):
            found = unless_missing(lambda: bucket.read(aws.s3, name))
        if found is not None and (recorded or ownership.tags_say_ours(tags.as_dict(found["tags"]), spec.name)):
            return bucket.declare(aws.s3, spec.name, name, spec.region, recorded=recorded, known=found)
        if found is not None or not spec.storage.create_bucket:
            return bucket.declare_users(aws.s3, name, found)
        return bucket.declare(aws.s3, spec.name, name, spec.region, recorded=recorded, record_now=_record_now(ctx, spec.region, bucket.KIND))

    def _wait_launchable(self, ctx: ProvisionContext, done: _Up) -> None:
        spec = self._spec(ctx)
        aws = self._session(spec)
        ctx.progress.step("waiting until EC2 accepts the new instance profiles (dry-run launch of the head)")
        request = launch_request(node_config(spec, done.facts.nodes[0], done.refs))
        waited = wait_until_launchable(aws.ec2, request, done.pending_profiles, ctx.progress)
        ctx.progress.step(f"instance profiles usable after {waited:.1f}s")
        for r in [r for r in ctx.state.resources if r.kind == identity.PROFILE and r.created]:
            _record_now(ctx, r.region or spec.region, identity.PROFILE)(r.id, {**r.extra, "launchable": True})

    # ------------------------------------------------------------------ down
    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        spec = self._spec(ctx)
        engine = Reconciler(ctx=ctx, errors=ERRORS, apply=False, region=spec.region)
        return engine.plan_down(self._survey(ctx, self._session(spec), purge_storage))

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        spec = self._spec(ctx)
        engine = Reconciler(ctx=ctx, errors=ERRORS, apply=True, region=spec.region)
        return [str(left) for left in engine.down(self._survey(ctx, self._session(spec), purge_storage))]

    def _survey(self, ctx: ProvisionContext, aws: AwsSession, purge_storage: bool) -> Callable[[], list[Resource[Any]]]:
        """Everything of the cluster that exists now, for `down`: what carries its tags, what
        has the names rlcloud derives from the cluster name (IAM is global and not searchable
        by tag), and what the cluster state recorded. Only what rlcloud created is deleted."""
        spec = self._spec(ctx)
        cluster, region = spec.name, spec.region

        def recorded(kind: str) -> set[str]:
            return {r.id for r in ctx.state.resources if r.kind == kind and r.created}

        def survey() -> list[Resource[Any]]:
            with ERRORS.calls(f"listing what is left of cluster {cluster}"):
                groups = security_group.find_for_down(aws.ec2, cluster, recorded(security_group.KIND))
                declared: list[Resource[Any]] = [keypair.declare(aws.ec2, cluster, region, None), placement.declare(aws.ec2, cluster, region)]
                declared += [security_group.declare_found(aws.ec2, cluster, region, g) for g in groups]
                # Recorded but no longer there: listed so the reconciler forgets them.
                declared += [gone(security_group.KIND, gid) for gid in sorted(recorded(security_group.KIND) - {g["GroupId"] for g in groups})]
                idents = identity.node_identities(cluster)
                profiles = {i.profile_name: i for i in idents} | {
                    name: identity.NodeIdentity("", name, name) for name in recorded(identity.PROFILE) if name not in {i.profile_name for i in idents}
                }
                declared += [identity.declare_profile(aws.iam, cluster, ident) for _, ident in sorted(profiles.items())]
                roles = {i.role_name: i.role for i in idents} | {
                    name: "" for name in recorded(identity.ROLE) if name not in {i.role_name for i in idents}
                }
                declared += [identity.declare_role(aws.iam, cluster, role, name) for name, role in sorted(roles.items())]
                declared += self._buckets_for_down(ctx, aws, recorded(bucket.KIND), purge_storage)
                needs = [r.key for r in declared if r.kind in (keypair.KIND, placement.KIND, identity.PROFILE)]
                nodes = inventory.node_resources(aws.ec2, cluster, region, [str(g["GroupId"]) for g in groups], needs)
            # `detail` of a declaration says what `up` makes; on `down` it would only be noise.
            return [*nodes, *(dataclasses.replace(r, detail="") for r in declared)]

        return survey

    def _buckets_for_down(self, ctx: ProvisionContext, aws: AwsSession, recorded: set[str], purge_storage: bool) -> list[Resource[Any]]:
        """The checkpoint bucket when rlcloud created it (recorded, or tagged if the state was lost)."""
        spec = self._spec(ctx)
        names = recorded | ({spec.storage.bucket} if spec.storage.scheme == "s3" and spec.storage.bucket else set())
        out: list[Resource[Any]] = []
        for name in sorted(names):
            try:
                found = unless_missing(functools.partial(bucket.read, aws.s3, name))
            except CloudError:  # another account's bucket: never rlcloud's to delete
                continue
            if found is None:
                out.append(gone(bucket.KIND, name))
            elif name in recorded or ownership.tags_say_ours(tags.as_dict(found["tags"]), spec.name):
                kept = None if purge_storage else KEPT_BUCKET
                out.append(bucket.declare(aws.s3, spec.name, name, spec.region, recorded=True, known=found, kept_on_down=kept))
        return out

    # ------------------------------------------------------------------ head
    def head_address(self, ctx: ProvisionContext) -> str | None:
        spec = self._spec(ctx)
        aws = self._session(spec)
        with ERRORS.calls(f"looking up the head of cluster {spec.name}"):
            head = inventory.head_instance(aws.ec2, spec.name)
        if head is None:
            return None
        if use_internal_ips(spec):
            return head.get("PrivateIpAddress")
        return head.get("PublicIpAddress")


def _record_now(ctx: ProvisionContext, region: str, kind: str) -> RecordNow:
    """Record a resource made of several calls right after the first one created it, exactly as
    the reconciler records it once it is complete (so that record then changes nothing)."""

    def record(rid: str, extra: Json) -> None:
        resource = CloudResource(kind=kind, id=rid, region=region, created=True, extra=extra)
        if resource in ctx.state.resources:
            return
        ctx.state.record(resource)
        ctx.save()

    return record
