"""GCP: firewall rules, compact placement policy, the head's and the workers' service accounts
and their bindings, checkpoint bucket; Ray runs through a node provider that skips Ray's own
IAM step.

Modules, one job each:
- clients.py      builds every Google SDK client (endpoint overrides, credentials)
- errors.py       Google errors -> CloudError with what to do next; error predicates
- firewall.py     the cluster's firewall rules (desired shape, read, create/update/delete)
- placement.py    the compact placement resource policy
- accounts.py     which account each node runs as, and what each account may hold (pure)
- identity.py     the service accounts and their bindings on the project and each other
- legacy.py       retiring the one account of clusters made before the head / worker split
- bindings.py     rlcloud's accounts on one IAM policy: plan, converge, record, remove
- iam_policy.py   pure edits of IAM policies (members holding exactly their grants)
- bucket.py       the gs:// checkpoint bucket and its bindings
- images.py       gVNIC support of boot images
- instances.py    the cluster's VMs: find (by label and name), delete, head address
- scope.py        what every step shares (clients, spec, state recording)
- lifecycle.py    GcpProvisioner: the CloudProvisioner verbs, steps in dependency order
- node_provider.py  Ray's GCP node provider minus its IAM step (runs on the head too)

Nothing here imports a Google SDK at import time; `provisioner()` checks they are installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.clouds.gcp.lifecycle import GcpProvisioner


def provisioner() -> GcpProvisioner:
    from provisioner.clouds.gcp.clients import require_sdks
    from provisioner.clouds.gcp.lifecycle import GcpProvisioner

    require_sdks()
    return GcpProvisioner()
