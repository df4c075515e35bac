"""The SSC's governance settings (inventory/governance.yaml): who approves plans and which plans
need it, the privileged groups and who belongs in them, and how often each partner's access is
reviewed. Read by `ssc_infra.sources.governance`; kept apart from region.yaml so that NetBox
(the other inventory source) never holds them: they change only through the repository.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ssc_infra.core.approval import BUILTIN_PRIVILEGED, NO_POLICY, ApprovalPolicy, Approver

GOVERNANCE_FILE = "governance.yaml"


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """How often access is reviewed (BIO 5.18.02 yearly, 8.02.01 privileged rights quarterly)."""

    every_days: int = 365
    privileged_every_days: int = 90
    inactive_days: int = 90  # an account unused this long is listed as inactive
    partners: Mapping[str, int] = field(default_factory=dict)  # partner -> its own interval

    def interval(self, partner: str) -> int:
        return self.partners.get(partner, self.every_days)


@dataclass(frozen=True, slots=True)
class Governance:
    approvers: Mapping[str, Approver] = field(default_factory=dict)  # by name
    approval: ApprovalPolicy = NO_POLICY
    # group name -> the sAMAccountNames that belong in it; the built-in ones always watched
    privileged: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reviews: ReviewPolicy = ReviewPolicy()

    @property
    def privileged_groups(self) -> dict[str, tuple[str, ...]]:
        """Every watched group and who belongs in it: a built-in group the file does not name
        holds only the domain's own Administrator."""
        named = {n.lower() for n in self.privileged}
        builtin = {n: ("Administrator",) if n != "Account Operators" else ()
                   for n in BUILTIN_PRIVILEGED if n.lower() not in named}
        return {**builtin, **self.privileged}


NO_GOVERNANCE = Governance()


def key_fingerprint(key: str) -> str:
    """`SHA256:...` of an OpenSSH public key ("type base64 [comment]"), as `ssh-keygen -l`.

    Raises:
        ValueError: not an OpenSSH public key, or its type and its data disagree.
    """
    parts = key.split()
    if len(parts) < 2:
        raise ValueError("write the key as `ssh-ed25519 AAAA...` (one line of the .pub file)")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise ValueError("the key's second word is not base64") from None
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if size < 1 or blob[4:4 + size].decode("ascii", "replace") != parts[0]:
        raise ValueError(f"the key data is not a {parts[0]} key")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
