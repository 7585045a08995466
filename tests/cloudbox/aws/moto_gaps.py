"""What moto 5.2 lacks for rlcloud's AWS flow, added to moto itself inside the server process,
so every client sees one complete account: the `rlcloud` CLI, `ray up` on the operator's
side, and the head's autoscaler and the workers inside the box's VMs.

- EC2 placement groups (moto: NotImplementedError): Create/Describe/DeletePlacementGroup as a
  tagged moto resource; RunInstances refuses an unknown group and reports the one it used.
- `EnaSupport` on images (moto never reports it): true for every AMI.
- EFA: moto reads every interface back as `interface` and keeps one interface per device
  index; the requested `InterfaceType` is kept, and one interface per network card.
  The primary interface EC2 makes itself is deleted with its instance (moto keeps it).
- Launch counts: EC2 launches up to MaxCount; moto launches MinCount.
- Instance profiles: moto associates the profile with the first instance of a launch only;
  every instance of it gets it, as on EC2.
- The public SSM parameters behind rlcloud's image aliases (moto has none of them).

`apply()` patches the imported moto classes once; the server calls it before serving.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# An AMI moto serves in every region (Canonical's Ubuntu 16.04 HVM); the aliases resolve to it.
SEED_AMI = "ami-785db401"

_applied = False
_pg_ids = itertools.count(1)


def _placement_errors() -> tuple[type[Exception], type[Exception]]:
    from moto.ec2.exceptions import EC2ClientError

    class Duplicate(EC2ClientError):
        def __init__(self, name: str) -> None:
            super().__init__("InvalidPlacementGroup.Duplicate", f"The Placement Group '{name}' already exists.")

    class Unknown(EC2ClientError):
        def __init__(self, name: str) -> None:
            super().__init__("InvalidPlacementGroup.Unknown", f"The Placement Group '{name}' is unknown.")

    return Duplicate, Unknown


def _placement_group_class() -> type:
    from moto.ec2.models.core import TaggedEC2Resource

    class PlacementGroup(TaggedEC2Resource):  # type: ignore[misc]
        def __init__(self, backend: Any, name: str, strategy: str, tags: dict[str, str]) -> None:
            self.ec2_backend = backend
            self.id = f"pg-{next(_pg_ids):017x}"
            self.group_id = self.id
            self.group_name = name
            self.strategy = strategy
            self.state = "available"
            self.group_arn = f"arn:aws:ec2:{backend.region_name}:{backend.account_id}:placement-group/{name}"
            self.add_tags(tags)

        @property
        def tags(self) -> list[dict[str, str]]:
            return [{"Key": t["key"], "Value": t["value"]} for t in self.get_tags()]

        def get_filter_value(self, filter_name: str, method_name: str | None = None) -> Any:
            if filter_name == "group-name":
                return self.group_name
            if filter_name == "strategy":
                return self.strategy
            if filter_name == "state":
                return self.state
            return super().get_filter_value(filter_name, "DescribePlacementGroups")

    return PlacementGroup


def placement_groups(backend: Any) -> dict[str, Any]:
    """The placement groups of one region's EC2 backend, by name."""
    if not hasattr(backend, "rlcloud_placement_groups"):
        backend.rlcloud_placement_groups = {}
    groups: dict[str, Any] = backend.rlcloud_placement_groups
    return groups


def _patch_placement_groups() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response
    from moto.ec2.utils import generic_filter

    group_class = _placement_group_class()
    duplicate, unknown = _placement_errors()

    def create_placement_group(self: Any) -> ActionResult:
        name = self._get_param("GroupName")
        groups = placement_groups(self.ec2_backend)
        if name in groups:
            raise duplicate(name)
        tags = self._parse_tag_specification("placement-group").get("placement-group", {})
        self.error_on_dryrun()
        group = group_class(self.ec2_backend, name, self._get_param("Strategy", "cluster"), tags)
        groups[name] = group
        return ActionResult({"PlacementGroup": group})

    def describe_placement_groups(self: Any) -> ActionResult:
        groups = placement_groups(self.ec2_backend)
        names = self._get_param("GroupNames", [])
        for name in names:
            if name not in groups:
                raise unknown(name)
        found = [groups[n] for n in names] if names else list(groups.values())
        ids = set(self._get_param("GroupIds", []))
        if ids:
            found = [g for g in found if g.id in ids]
        filters = self._filters_from_querystring()
        return ActionResult({"PlacementGroups": generic_filter(filters, found) if filters else found})

    def delete_placement_group(self: Any) -> ActionResult:
        name = self._get_param("GroupName")
        groups = placement_groups(self.ec2_backend)
        if name not in groups:
            raise unknown(name)
        self.error_on_dryrun()
        group = groups.pop(name)
        self.ec2_backend.tags.pop(group.id, None)
        return ActionResult({})

    EC2Response.create_placement_group = create_placement_group
    EC2Response.describe_placement_groups = describe_placement_groups
    EC2Response.delete_placement_group = delete_placement_group


def _patch_run_instances() -> None:
    from moto.ec2.responses import EC2Response

    _, unknown = _placement_errors()
    original: Callable[[Any], Any] = EC2Response.run_instances

    def run_instances(self: Any) -> Any:
        group_name = self._get_param("Placement.GroupName")
        if group_name and group_name not in placement_groups(self.ec2_backend):
            raise unknown(group_name)
        # EC2 launches as many as MaxCount when it has the capacity (the box always has);
        # moto launches MinCount, so Ray's autoscaler, which asks for MinCount=1 and
        # MaxCount=N, would get one node per call and launch again.
        if self.params.get("MaxCount"):
            self.params["MinCount"] = self.params["MaxCount"]
        result = original(self)
        reservation = result.result
        profile_arn = self._get_param("IamInstanceProfile.Arn")
        profile_name = self._get_param("IamInstanceProfile.Name")
        for instance in reservation.instances:
            if group_name:
                instance.placement.group_name = group_name
            if instance is not reservation.instances[0] and (profile_arn or profile_name):
                self.ec2_backend.associate_iam_instance_profile(
                    instance_id=instance.id, iam_instance_profile_name=profile_name, iam_instance_profile_arn=profile_arn
                )
        return result

    EC2Response.run_instances = run_instances


_interfaces_patched = False


def patch_network_interfaces() -> None:
    """Interfaces as EC2 has them: the requested InterfaceType kept, one per network card
    (moto keys its map by device index, and EFA instances have one interface per card, all
    but the first at device index 1, so moto forgets all but two and never deletes the
    rest), and the primary interface EC2 makes itself (a launch naming SubnetIds, not
    interfaces) deleted with its instance, as on EC2 (moto keeps it, in use, forever).
    Public: the in-process moto server of tests/aws needs it as much as the box. Idempotent."""
    global _interfaces_patched
    if _interfaces_patched:
        return
    from moto.ec2.models.instances import Instance

    original: Callable[..., None] = Instance.prep_nics

    def prep_nics(self: Any, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        before = set(self.ec2_backend.enis)
        original(self, nic_spec, *args, **kwargs)
        created = [eni for eni_id, eni in self.ec2_backend.enis.items() if eni_id not in before]
        if not nic_spec:
            for eni in created:
                eni.delete_on_termination = True
            return
        fresh = [spec for spec in nic_spec if not spec.get("NetworkInterfaceId")]
        if len(fresh) != len(created):
            return
        self.nics = {}
        for position, (spec, eni) in enumerate(zip(fresh, created)):
            eni.interface_type = spec.get("InterfaceType") or "interface"
            self.nics[position] = eni
            eni.device_index = int(spec.get("DeviceIndex", 0))

    Instance.prep_nics = prep_nics  # type: ignore[method-assign]
    _interfaces_patched = True


def _patch_images() -> None:
    from moto.ec2.models.amis import Ami

    Ami.ena_support = True  # serialized as EnaSupport


def _patch_ssm_parameters() -> None:
    from moto.ssm.models import Parameter, ParameterDict

    from provisioner.images import AWS_IMAGE_ALIASES

    original: Callable[[Any, str], None] = ParameterDict._check_loading_status

    def check_loading_status(self: Any, key: str) -> None:
        original(self, key)
        if str(key or "").startswith("/aws/service/") and not getattr(self, "rlcloud_images_loaded", False):
            self.rlcloud_images_loaded = True
            for name in AWS_IMAGE_ALIASES.values():
                defaultdict.__getitem__(self, name).append(
                    Parameter(
                        account_id=self.account_id,
                        name=name,
                        value=SEED_AMI,
                        parameter_type="String",
                        description=None,
                        allowed_pattern=None,
                        keyid=None,
                        last_modified_date=0.0,
                        version=1,
                        data_type="aws:ec2:image",
                    )
                )

    ParameterDict._check_loading_status = check_loading_status


def apply() -> None:
    """Patch moto's classes (idempotent). Call before the server handles a request."""
    global _applied
    if _applied:
        return
    _patch_placement_groups()
    _patch_run_instances()
    patch_network_interfaces()
    _patch_images()
    _patch_ssm_parameters()
    _applied = True
