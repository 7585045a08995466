"""Azure: NSG, VNet, proximity placement group, managed identity with a group-scoped custom
role (the head's only: workers get an identity of their own for az:// checkpoints, or none),
and a Ray node provider that uses them (see azure_provisioner.py for the order, and
ray_node_provider.py for how nodes get accelerated networking, the placement group and the
identities). Plan, up and down run on the shared reconciler (provisioner/clouds/reconcile.py).

Importing this package is cheap: the Azure SDK is imported only when a client is built, and
provisioner/drivers/azure.py names the SDK modules provisioner/lazy.py checks before that.
"""
