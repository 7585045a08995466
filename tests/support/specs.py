"""Small valid specs per cloud, as YAML text, for tests to start from and break."""

from __future__ import annotations

AWS = """\
name: t-aws
cloud: aws
region: us-west-2
zone: us-west-2b
network:
  ssh_cidrs: [203.0.113.0/24]
  placement: cluster
node_groups:
  learner:
    accelerators: H100:8
    min_nodes: 1
    max_nodes: 1
  sampler:
    accelerators: L4:1
    max_nodes: 8
    spot: true
storage:
  checkpoint_uri: s3://t-aws-ckpt/runs
  create_bucket: true
"""

GCP = """\
name: t-gcp
cloud: gcp
project: my-rl-project
region: us-central1
zone: us-central1-a
network:
  ssh_cidrs: [203.0.113.0/24]
  placement: compact
node_groups:
  learner:
    accelerators: H100:8
    min_nodes: 1
    max_nodes: 1
  sampler:
    accelerators: L4:1
    max_nodes: 4
    spot: true
storage:
  checkpoint_uri: gs://t-gcp-ckpt/runs
"""

AZURE = """\
name: t-azure
cloud: azure
subscription_id: 11111111-2222-3333-4444-555555555555
region: eastus
network:
  ssh_cidrs: [203.0.113.0/24]
  placement: proximity
node_groups:
  learner:
    accelerators: H100:8
    min_nodes: 1
    max_nodes: 1
  sampler:
    instance_type: Standard_NC24ads_A100_v4
    max_nodes: 4
    spot: true
"""

LOCAL = """\
name: t-local
cloud: local
node_groups:
  learner:
    accelerators: H100:2
    min_nodes: 1
    max_nodes: 1
  sampler:
    accelerators: L4:1
    max_nodes: 6
"""

BY_CLOUD = {"aws": AWS, "gcp": GCP, "azure": AZURE, "local": LOCAL}
