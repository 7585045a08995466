"""The dotted name of the local node provider, importable without importing Ray (the compiler
needs the name; only the autoscaler on the head imports the class)."""

PROVIDER_CLASS = "provisioner.local.node_provider.LocalNodeProvider"
