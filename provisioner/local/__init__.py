"""The local cluster: Ray's real autoscaler with simulated nodes (fake_multinode) on this machine."""
