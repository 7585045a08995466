"""The clouds: one package per cloud (aws, gcp, azure), all of one shape.

Shared by every cloud, and the only place each concern lives:

- reconcile.py  the engine. A cloud *declares* each resource it manages as a `Resource`
                (read, drift, create/update/delete, owned, depends_on, delete_command);
                `Reconciler.ensure` runs plan and up through the same reads and decisions,
                records in the state the moment a resource exists, retries while the cloud
                says in-use / not-yet-consistent / throttled, and `Reconciler.down` deletes
                in reverse dependency order and reports what is left with its command.
- errors.py     the typed error kinds (NotFound, InUse, QuotaExceeded, ...) and
                `ErrorMapping`: each cloud has exactly one, `ERRORS` in its errors.py, which
                reads its SDK's exceptions once. Nothing outside that file looks at an SDK
                error code; `ERRORS.calls("what we were doing")` turns the rest into a
                CloudError with the cloud's own words and what to do next.
- ownership.py  the one rule for "rlcloud made this for that cluster" (its tags/labels).
- base.py       the CloudProvisioner verbs (plan_up, apply, plan_down, destroy, head_address)
                that backends/cloud.py calls.

Each cloud package holds its SDK clients, its `ERRORS`, one module per resource kind that
returns a `Resource` (AWS: aws/placement.py `declare`; GCP: gcp/placement.py `policy_resource`; Azure:
`AzureResources` in azure/resources.py), the order they are ensured in (aws/lifecycle.py,
gcp/lifecycle.py, azure/azure_provisioner.py) and its Ray node provider.

Adding a resource to a cloud: write its `Resource` (read returns None when absent; say how
it drifts and how a person would delete it), `ensure` it where its dependencies already
exist, and give `down` the same declaration (or one found by the cloud's inventory). Plan,
state, ownership, retries and teardown order then come from the engine.

Cloud SDKs are imported only inside these packages, and only when that cloud is used
(`rlcloud --help` imports none); which cloud exists at all is the driver registry's
(provisioner/drivers/), never a switch on a cloud's name here.
"""
