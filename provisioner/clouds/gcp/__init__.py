"""GCP: firewall rules, compact placement policy, the head's and the workers' service accounts
and their bindings, checkpoint bucket; Ray runs through a node provider that skips Ray's own
IAM step.

Every resource is a `Resource` the shared reconciler runs (provisioner/clouds/reconcile.py):
plan == up, recorded as it exists, deleted in dependency order by `down`.

Modules, one job each:
- clients.py      builds every Google SDK client (endpoint overrides, credentials)
- errors.py       `ERRORS`: Google errors in rlcloud's typed kinds, with what to do next
- firewall.py     the cluster's firewall rules (desired shape, declared for the reconciler)
- placement.py    the compact placement policy (declared for the reconciler)
- accounts.py     which account each node runs as, and what each account may hold (pure)
- identity.py     the service accounts, and their bindings on the project and on each other
- bindings.py     rlcloud's accounts on one IAM policy, as one Resource (one write per policy)
- iam_policy.py   pure edits of IAM policies (members holding exactly their grants)
- bucket.py       the gs:// checkpoint bucket and its bindings
- images.py       gVNIC support of boot images
- instances.py    the cluster's VMs: found by label and name for `down`; the head's address
- lifecycle.py    GcpProvisioner: the verbs; what `up` ensures in order, what `down` surveys
- node_provider.py  Ray's GCP node provider minus its IAM step (runs on the head too)

Nothing here imports a Google SDK at import time; provisioner/drivers/gcp.py names the SDKs
and provisioner/lazy.py checks they are installed before GcpProvisioner is built.
"""
