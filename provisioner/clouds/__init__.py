"""One package per cloud (aws, gcp, azure) implementing the CloudProvisioner verbs in base.py.
Cloud SDKs are imported only inside these packages, and only when that cloud is used."""
