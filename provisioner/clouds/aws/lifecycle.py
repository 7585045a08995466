"""The AWS verbs behind the shared cloud flow (backends/cloud.py): plan_up, apply, plan_down,
destroy, head_address.

`up` reads first and writes only what is missing or wrong, in this order: network (read
only) -> images and instance-type facts (read only) -> key pair -> security group ->
placement group -> IAM roles, policies and profiles -> checkpoint bucket -> wait until EC2
accepts new profiles. Each resource is recorded in the cluster state the moment it exists,
so a failure at any step leaves a state the next `up` finishes and `down` removes. A second
`up` of an unchanged cluster makes only Describe/Get/List/Head calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds.aws import bucket, identity, keypair, placement, security_group
from provisioner.clouds.aws.errors import aws_errors
from provisioner.clouds.aws.identity import UNKNOWN, NodeIdentity
from provisioner.clouds.aws.images import Image, resolve_images
from provisioner.clouds.aws.inspection import BUCKET, INSTANCE_PROFILE, SECURITY_GROUP, Inspection, Recorder
from provisioner.clouds.aws.instance_types import check_node_types
from provisioner.clouds.aws.inventory import Found, discover, head_instance
from provisioner.clouds.aws.network import Network, check_user_security_group, resolve_network
from provisioner.clouds.aws.policies import Checkpoints, LaunchScope, head_policy, worker_policy
from provisioner.clouds.aws.propagation import launch_request, wait_until_launchable
from provisioner.clouds.aws.session import AwsSession
from provisioner.clouds.aws.teardown import Teardown, delete_command
from provisioner.clouds.base import ProvisionContext
from provisioner.compile.aws import node_config, use_internal_ips
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.progress import Progress
from provisioner.refs import AwsRefs
from provisioner.spec.models import AwsClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes
from provisioner.state import CloudResource


def node_identities(cluster: str) -> list[NodeIdentity]:
    """Workers first: the head's policy names the worker role (iam:PassRole)."""
    return [
        NodeIdentity("worker", naming.aws_role(cluster), naming.aws_instance_profile(cluster)),
        NodeIdentity("head", naming.aws_head_role(cluster), naming.aws_head_instance_profile(cluster)),
    ]


def checkpoints(spec: AwsClusterSpec) -> Checkpoints | None:
    if spec.storage.scheme != "s3" or not spec.storage.bucket:
        return None
    return Checkpoints(bucket=spec.storage.bucket, prefix=spec.storage.prefix)


@dataclass
class Survey:
    """The read-only facts both plan and up start from."""

    nodes: list[ResolvedNode]
    network: Network
    images: dict[str, Image]
    network_cards: dict[str, int]

    @property
    def needs_placement_group(self) -> bool:
        return any(n.placement for n in self.nodes)


class AwsProvisioner:
    cloud = "aws"

    def __init__(self) -> None:
        # `up` plans, asks, then applies with the same provisioner: the survey (network,
        # AMIs, instance-type facts) does not change in between and is read once. Resources
        # themselves are always read again before acting.
        self._surveys: dict[str, Survey] = {}

    # ------------------------------------------------------------------ shared reads
    @staticmethod
    def _spec(ctx: ProvisionContext) -> AwsClusterSpec:
        assert isinstance(ctx.spec, AwsClusterSpec)
        return ctx.spec

    @staticmethod
    def _session(spec: AwsClusterSpec) -> AwsSession:
        return AwsSession(region=spec.region)

    def _survey(self, aws: AwsSession, spec: AwsClusterSpec) -> Survey:
        key = spec.model_dump_json()
        if key not in self._surveys:
            nodes = resolve_nodes(spec)
            network = resolve_network(aws.ec2, spec, use_internal_ips(spec, nodes))
            images = resolve_images(aws.ec2, aws.ssm, [n.image for n in nodes], spec.region)
            cards = check_node_types(aws.ec2, nodes, images)
            self._surveys[key] = Survey(nodes=nodes, network=network, images=images, network_cards=cards)
        return self._surveys[key]

    def _identity(self, aws: AwsSession) -> dict[str, str]:
        with aws_errors("reading the AWS account id (sts get-caller-identity)"):
            return aws.identity()

    @staticmethod
    def _policies(aws: AwsSession, spec: AwsClusterSpec, survey: Survey, group_id: str | None) -> dict[str, Any]:
        """Desired inline policy per node role; the head's is UNKNOWN while the group does not exist."""
        ident = aws.identity()
        ckpt = checkpoints(spec)
        worker_arn = aws.arn("iam", f"role/{naming.aws_role(spec.name)}", region=False)
        head: Any = UNKNOWN
        if group_id is not None:
            scope = LaunchScope(
                partition=ident["partition"],
                region=spec.region,
                account=ident["account"],
                cluster=spec.name,
                subnet_id=survey.network.subnet_id,
                security_group_id=group_id,
                key_name=naming.aws_key_pair(spec.name),
                placement_group=naming.aws_placement_group(spec.name) if survey.needs_placement_group else None,
                worker_role_arn=worker_arn,
            )
            head = head_policy(scope, ckpt)
        return {"worker": worker_policy(ident["partition"], ckpt), "head": head}

    @staticmethod
    def _recorded_ours(ctx: ProvisionContext, kind: str, rid: str) -> bool:
        return any(r.kind == kind and r.id == rid and r.created for r in ctx.state.resources)

    # ------------------------------------------------------------------ plan
    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        spec = self._spec(ctx)
        aws = self._session(spec)
        survey = self._survey(aws, spec)
        net = survey.network
        out = [
            PlannedResource(kind="vpc", name=net.vpc_id, action="use", detail="default VPC" if net.vpc_is_default else "from the spec"),
            PlannedResource(
                kind="subnet", name=net.subnet_id, action="use", detail=f"{net.zone}" + (", picked by rlcloud" if net.subnet_chosen else "")
            ),
        ]
        out += [
            PlannedResource(kind="image", name=img.ami_id, action="use", detail=f"{w or 'default'}: {img.name}".strip())
            for w, img in sorted(survey.images.items())
        ]
        out.append(keypair.inspect(aws.ec2, spec.name, ctx.ssh_public_key).planned())
        group_id = spec.network.security_group_id
        if group_id:
            check_user_security_group(aws.ec2, group_id, net.vpc_id)
            out.append(PlannedResource(kind="security_group", name=group_id, action="use", detail="yours: used as is, never modified"))
        else:
            found = security_group.inspect(aws.ec2, spec.name, net.vpc_id, ctx.ssh_cidrs)
            out.append(found.planned())
            group_id = found.current["GroupId"] if found.current else None
        if survey.needs_placement_group:
            out.append(placement.inspect(aws.ec2, spec.name).planned())
        if spec.identity.instance_profile:
            arn = identity.user_profile_arn(aws.iam, spec.identity.instance_profile)
            out.append(PlannedResource(kind="instance_profile", name=arn, action="use", detail="yours: on every node, never modified"))
        else:
            self._identity(aws)
            policies = self._policies(aws, spec, survey, group_id)
            for ident in node_identities(spec.name):
                out.append(identity.inspect_role(aws.iam, spec.name, ident, policies[ident.role]).planned())
                out.append(identity.inspect_profile(aws.iam, spec.name, ident).planned())
        ckpt = checkpoints(spec)
        if ckpt is not None:
            recorded = self._recorded_ours(ctx, BUCKET, ckpt.bucket)
            out.append(bucket.inspect(aws.s3, spec.name, ckpt.bucket, create=spec.storage.create_bucket, recorded_ours=recorded).planned())
        return out

    # ------------------------------------------------------------------ up
    def apply(self, ctx: ProvisionContext) -> AwsRefs:
        spec = self._spec(ctx)
        if ctx.ssh_public_key is None:
            raise CloudError("no SSH public key to import", hint="this is an rlcloud bug: `up` generates one first")
        aws = self._session(spec)
        record = _recorder(ctx, spec.region)
        progress = ctx.progress
        survey = self._survey(aws, spec)
        refs = AwsRefs(
            subnet_id=survey.network.subnet_id,
            images={w: img.ami_id for w, img in survey.images.items()},
            root_device_names={img.ami_id: img.root_device for img in survey.images.values()},
            network_cards=survey.network_cards,
        )

        found = keypair.inspect(aws.ec2, spec.name, ctx.ssh_public_key)
        _announce(progress, found)
        keypair.ensure(aws.ec2, spec.name, ctx.ssh_public_key, found, record)

        if spec.network.security_group_id:
            check_user_security_group(aws.ec2, spec.network.security_group_id, survey.network.vpc_id)
            record(CloudResource(kind=SECURITY_GROUP, id=spec.network.security_group_id, created=False))
            refs.security_group_id = spec.network.security_group_id
        else:
            found = security_group.inspect(aws.ec2, spec.name, survey.network.vpc_id, ctx.ssh_cidrs)
            _announce(progress, found)
            refs.security_group_id = security_group.ensure(aws.ec2, spec.name, survey.network.vpc_id, ctx.ssh_cidrs, found, record)

        if survey.needs_placement_group:
            found = placement.inspect(aws.ec2, spec.name)
            _announce(progress, found)
            placement.ensure(aws.ec2, spec.name, found, record)

        pending_profiles = self._ensure_identities(ctx, aws, survey, refs, record)

        ckpt = checkpoints(spec)
        if ckpt is not None:
            recorded = self._recorded_ours(ctx, BUCKET, ckpt.bucket)
            found = bucket.inspect(aws.s3, spec.name, ckpt.bucket, create=spec.storage.create_bucket, recorded_ours=recorded)
            _announce(progress, found)
            bucket.ensure(aws.s3, spec.name, ckpt.bucket, spec.region, found, record)

        if pending_profiles:
            self._wait_launchable(ctx, aws, survey, refs, pending_profiles, record)
        return refs

    def _ensure_identities(self, ctx: ProvisionContext, aws: AwsSession, survey: Survey, refs: AwsRefs, record: Recorder) -> list[str]:
        """Set refs' instance profiles; return the ARNs of profiles EC2 may not know yet."""
        spec = self._spec(ctx)
        if spec.identity.instance_profile:
            refs.instance_profile = identity.user_profile_arn(aws.iam, spec.identity.instance_profile)
            return []
        self._identity(aws)
        policies = self._policies(aws, spec, survey, refs.security_group_id)
        pending: list[str] = []
        for ident in node_identities(spec.name):
            role_found = identity.inspect_role(aws.iam, spec.name, ident, policies[ident.role])
            _announce(ctx.progress, role_found)
            identity.ensure_role(aws.iam, spec.name, ident, role_found, policies[ident.role], record)
            profile_found = identity.inspect_profile(aws.iam, spec.name, ident)
            _announce(ctx.progress, profile_found)
            # Not launchable yet: created or changed now, or by an `up` that stopped before
            # EC2 accepted it.
            earlier = next((r for r in ctx.state.resources if r.kind == INSTANCE_PROFILE and r.id == ident.profile_name), None)
            arn, changed = identity.ensure_profile(aws.iam, spec.name, ident, profile_found, record)
            if role_found.action == "create" or changed or (earlier is not None and earlier.extra.get("launchable") is False):
                identity.wait_until_visible(aws.iam, ident)
                pending.append(arn)
            record(CloudResource(kind=INSTANCE_PROFILE, id=ident.profile_name, extra={"role": ident.role, "launchable": arn not in pending}))
            if ident.role == "head":
                refs.head_instance_profile = arn
            else:
                refs.instance_profile = arn
        return pending

    def _wait_launchable(self, ctx: ProvisionContext, aws: AwsSession, survey: Survey, refs: AwsRefs, pending: list[str], record: Recorder) -> None:
        spec = self._spec(ctx)
        ctx.progress.step("waiting until EC2 accepts the new instance profiles (dry-run launch of the head)")
        waited = wait_until_launchable(aws.ec2, launch_request(node_config(spec, survey.nodes[0], refs)), pending, ctx.progress)
        ctx.progress.step(f"instance profiles usable after {waited:.1f}s")
        for r in [r for r in ctx.state.resources if r.kind == INSTANCE_PROFILE]:
            record(CloudResource(kind=INSTANCE_PROFILE, id=r.id, region=r.region, extra={**r.extra, "launchable": True}))

    # ------------------------------------------------------------------ down
    def _found(self, aws: AwsSession, ctx: ProvisionContext) -> list[Found]:
        spec = self._spec(ctx)
        with aws_errors(f"listing what is left of cluster {spec.name}"):
            return discover(aws, spec.name, ctx.state, spec.storage.bucket if spec.storage.scheme == "s3" else None)

    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        spec = self._spec(ctx)
        out = []
        for f in self._found(self._session(spec), ctx):
            if f.kind == BUCKET and not purge_storage:
                out.append(PlannedResource(kind=f.kind, name=f.id, action="keep", detail="checkpoints kept; --purge-storage deletes them"))
            else:
                out.append(PlannedResource(kind=f.kind, name=f.id, action="delete", detail=f.detail))
        for r in ctx.state.resources:
            if not r.created:
                out.append(PlannedResource(kind=r.kind, name=r.id, action="keep", detail="yours: never deleted"))
        return out

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        spec = self._spec(ctx)
        aws = self._session(spec)
        lock = threading.Lock()

        def deleted(f: Found) -> None:
            with lock:
                ctx.state.resources = [r for r in ctx.state.resources if not (r.kind == f.kind and r.id == f.id)]
                ctx.save()

        teardown = Teardown(aws, ctx.progress, deleted)
        kept = (lambda f: f.kind == BUCKET) if not purge_storage else (lambda f: False)
        # Up to two passes: the second catches what appeared during the first (a node an
        # autoscaler launched while we deleted); a last sweep lists whatever is still there.
        left: list[Found] = []
        for attempt in range(3):
            found = self._found(aws, ctx)
            left = [f for f in found if not kept(f)]
            if not left or attempt == 2:
                break
            teardown.run(left)
        self._forget_gone(ctx, found)
        return [
            f"{f.kind} {f.id}: {teardown.failures.get((f.kind, f.id), 'still there after two passes')}; delete with: {delete_command(f, spec.region)}"
            for f in left
        ]

    @staticmethod
    def _forget_gone(ctx: ProvisionContext, found: list[Found]) -> None:
        """Drop state records of what rlcloud created and AWS no longer has."""
        present = {(f.kind, f.id) for f in found}
        ctx.state.resources = [r for r in ctx.state.resources if not r.created or (r.kind, r.id) in present]
        ctx.save()

    # ------------------------------------------------------------------ head
    def head_address(self, ctx: ProvisionContext) -> str | None:
        spec = self._spec(ctx)
        aws = self._session(spec)
        with aws_errors(f"looking up the head of cluster {spec.name}"):
            head = head_instance(aws.ec2, spec.name)
        if head is None:
            return None
        if use_internal_ips(spec):
            return head.get("PrivateIpAddress")
        return head.get("PublicIpAddress")


def _recorder(ctx: ProvisionContext, region: str) -> Recorder:
    """Record a resource in the cluster state and save it at once (only when it changed)."""

    def record(resource: CloudResource) -> None:
        resource.region = resource.region or region
        if any(r == resource for r in ctx.state.resources):
            return
        ctx.state.record(resource)
        ctx.save()

    return record


def _announce(progress: Progress, found: Inspection) -> None:
    if found.action in ("create", "update"):
        detail = found.detail or "; ".join(found.changes)
        progress.step(f"{'creating' if found.action == 'create' else 'updating'} {found.kind} {found.name}" + (f" ({detail})" if detail else ""))
