"""inventory/governance.yaml: the approvers and their keys, the approval policy, the privileged
groups and the access reviews' intervals. Optional: without it no plan needs an approval, and
only the domain's built-in privileged groups are watched.

```yaml
approvers:                          # who may approve (their login name and SSH public key)
  - {name: tvdmeer, key: "ssh-ed25519 AAAAC3Nza... tvdmeer@beheer"}
approval:                           # which plans need a second engineer (default: none)
  always: false                     # every plan with changes
  destructive: 10                   # more destructive changes than this for one partner
  privileged: true                  # any change to a privileged group
  lifecycle: true                   # every offboarding, purge and merge
  valid_hours: 24                   # an approval holds this long
privileged_groups:                  # who belongs in each (the built-in ones are always watched)
  Domain Admins: [Administrator, adm-tvdmeer]
reviews: {every_days: 365, privileged_every_days: 90, inactive_days: 90, partners: {fumo: 180}}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ssc_infra.core.approval import ApprovalPolicy, Approver
from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.governance import (
    GOVERNANCE_FILE,
    NO_GOVERNANCE,
    Governance,
    ReviewPolicy,
    key_fingerprint,
)
from ssc_infra.sources.located import read_yaml
from ssc_infra.sources.regionfiles import validate
from ssc_infra.sources.schema import Code

LOGIN_PATTERN = r"^[a-z_][a-z0-9._-]{0,31}$"
KEY_PATTERN = (r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com"
               r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [ -~]{0,200})?$")
# AD's sAMAccountName of a group (64) or an account (20): no control character or
# "/\[]:;|=,+*?<>
GROUP_PATTERN = r'^[^\x00-\x1f"/\\\[\]:;|=,+*?<>]{1,64}$'
ACCOUNT_PATTERN = r'^[^\x00-\x1f"/\\\[\]:;|=,+*?<>@]{1,20}$'

Login = Annotated[str, Field(pattern=LOGIN_PATTERN, description="a login name: tvdmeer")]
GroupName = Annotated[str, Field(pattern=GROUP_PATTERN, description="a group's name in AD")]
AccountName = Annotated[str, Field(pattern=ACCOUNT_PATTERN,
                                   description="an account's sAMAccountName")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApproverEntry(_Doc):
    name: Login
    key: str = Field(max_length=16384, pattern=KEY_PATTERN,
                     description="one line of the engineer's .pub file: ssh-ed25519 AAAA...")

    @field_validator("key")
    @classmethod
    def _key_decodes(cls, value: str) -> str:
        key_fingerprint(value)  # ValueError says what is wrong
        return value


class ApprovalSettings(_Doc):
    always: bool = False
    destructive: int | None = Field(None, ge=0, description="more destructive changes than "
                                    "this for one partner need an approval")
    privileged: bool = False
    lifecycle: bool = False
    valid_hours: int = Field(24, ge=1, le=720)


class ReviewSettings(_Doc):
    every_days: int = Field(365, ge=1, le=3660)
    privileged_every_days: int = Field(90, ge=1, le=3660)
    inactive_days: int = Field(90, ge=1, le=3660)
    partners: dict[Code, Annotated[int, Field(ge=1, le=3660)]] = Field(default_factory=dict)


class GovernanceFile(_Doc):
    """inventory/governance.yaml."""

    approvers: list[ApproverEntry] = Field(default_factory=list, max_length=1000)
    approval: ApprovalSettings = ApprovalSettings()
    privileged_groups: dict[GroupName, list[AccountName]] = Field(default_factory=dict)
    reviews: ReviewSettings = ReviewSettings()


def load_governance(folder: Path) -> Governance:
    """The governance file of the inventory folder; the defaults when there is none.

    Raises:
        InventoryError: with every problem, each at governance.yaml:line with a hint.
    """
    path = folder / GOVERNANCE_FILE
    if not path.exists():
        return NO_GOVERNANCE
    doc, problems = read_yaml(path, GOVERNANCE_FILE, folder)
    if doc is None:
        raise InventoryError(problems)
    spec, invalid = validate(GovernanceFile, doc, "")
    problems += invalid
    if spec is None:
        raise InventoryError(problems)
    approvers: dict[str, Approver] = {}
    keys: dict[str, str] = {}
    for index, entry in enumerate(spec.approvers):
        line = doc.line(("approvers", index))
        fingerprint = key_fingerprint(entry.key)
        if entry.name in approvers:
            problems.append(Problem(GOVERNANCE_FILE, line, f"approver {entry.name!r} is listed "
                                    "twice", "one entry per engineer, with one key"))
        elif fingerprint in keys:
            problems.append(Problem(GOVERNANCE_FILE, line, f"{entry.name}'s key is "
                                    f"{keys[fingerprint]}'s too", "every engineer signs with "
                                    "a key of their own: that is what makes four eyes"))
        keys.setdefault(fingerprint, entry.name)
        approvers.setdefault(entry.name, Approver(entry.name, " ".join(entry.key.split()[:2]),
                                                  fingerprint))
    folded: dict[str, str] = {}
    for group in spec.privileged_groups:
        first = folded.setdefault(group.lower(), group)
        if first != group:
            problems.append(Problem(GOVERNANCE_FILE, doc.line(("privileged_groups", group)),
                                    f"privileged group {group!r} is {first!r} again (AD "
                                    "names do not tell case apart)", "list each group once"))
    if problems:
        raise InventoryError(problems)
    a, r = spec.approval, spec.reviews
    return Governance(
        approvers=approvers,
        approval=ApprovalPolicy(a.always, a.destructive, a.privileged, a.lifecycle,
                                a.valid_hours),
        privileged={g: tuple(members) for g, members in spec.privileged_groups.items()},
        reviews=ReviewPolicy(r.every_days, r.privileged_every_days, r.inactive_days,
                             dict(r.partners)),
    )
