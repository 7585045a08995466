"""Backends: the verbs (up, down, status, endpoint, plan) behind one interface (base.py).

`cloud.py` runs them for any cloud with a CloudProvisioner (AWS, GCP, Azure); `local.py` for
this machine. Which one a spec gets, and with which provisioner, is its driver's choice
(`provisioner.drivers.driver_for(spec.cloud).make_backend()`), so no module here switches on
the cloud's name.
"""
