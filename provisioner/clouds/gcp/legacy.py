"""Clusters rlcloud made before head and workers got accounts of their own ran every node as
one account (rlcloud-NAME) holding the autoscaler role, actAs on itself and the checkpoint
grant: a worker could create and delete VMs. `up` brings such a cluster to the new shape:
the identity and checkpoint steps revoke that account's grants on the project and the bucket
(their plans say so), and this last step deletes it, so it never outlives its grants' removal.

Its VMs keep running as the deleted account, with no permission left, until Ray replaces
them: the node configs name other accounts now, so `ray up` relaunches the head and the
autoscaler replaces the workers. `down` deletes it with the cluster's other accounts
(IdentityStep), so this step does nothing then.
"""

from __future__ import annotations

from provisioner.clouds.gcp.accounts import node_accounts
from provisioner.clouds.gcp.identity import ACCOUNT_KIND, Found, find_accounts, retire_account
from provisioner.clouds.gcp.scope import Scope
from provisioner.plan import PlannedResource


class LegacyAccountStep:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def _legacy(self) -> Found | None:
        """The cluster's legacy account, when `up` manages accounts (never with the user's)."""
        if not node_accounts(self.scope.spec).created:
            return None
        return find_accounts(self.scope, ("legacy",)).get("legacy")

    def plan_up(self) -> list[PlannedResource]:
        legacy = self._legacy()
        if legacy is None or not legacy.exists:
            return []
        return [
            PlannedResource(
                kind=ACCOUNT_KIND, name=legacy.email, action="delete", detail="head and workers shared it; replaced by the two accounts above"
            )
        ]

    def apply(self) -> None:
        legacy = self._legacy()
        if legacy is not None:
            retire_account(self.scope, legacy)

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        return []  # IdentityStep deletes it with the other accounts

    def destroy(self, purge_storage: bool) -> list[str]:
        return []
