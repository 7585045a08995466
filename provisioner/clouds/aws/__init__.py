"""AWS: the resources around a Ray cluster (key pair, security group, placement group, IAM
roles and profiles, checkpoint bucket), declared per module and run by the shared reconciler
(provisioner/clouds/reconcile.py) from lifecycle.AwsProvisioner, created with boto3 and
deleted without orphans.

boto3 is imported only when an AWS cluster is planned, brought up or down, so `rlcloud`
starts fast and works for other clouds without it; the driver (provisioner/drivers/aws.py)
names boto3 and botocore, and provisioner/lazy.py checks they are installed before the
provisioner is built.
"""
