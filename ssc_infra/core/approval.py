"""Four-eyes approval (BIO 5.03): which plans a second engineer must approve, what is signed,
and when an approval holds. Pure: the signatures themselves are checked by
`ssc_infra.state.approval` (ssh-keygen), the policy and the approvers come from the
inventory's governance.yaml (`ssc_infra.sources.governance`).

An approval is an engineer's SSH signature over a short statement: what is approved (a sealed
plan's digest, or a lifecycle operation such as an offboarding), by whom, with which key and
when. It holds when its signer is a listed approver other than the plan's planner, it was made
after the plan and it has not expired; the plan file carries its approvals beside its seal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ssc_infra.core.plan import Backend, ObjectKind, Plan

NAMESPACE = "ssc-infra-approval"  # the ssh-keygen signature namespace: no other use of a key
STATEMENT_HEADER = "ssc-infra approval v1"
LIFECYCLE_OPERATIONS = ("offboard", "purge", "merge")
SIGNATURE_MAX = 4096  # an SSH signature is well under 1,000 characters
# A clock a few minutes apart between two control machines is no reason to refuse.
CLOCK_SKEW = timedelta(minutes=5)
# The built-in groups of a domain whose members hold the keys to it: always watched.
BUILTIN_PRIVILEGED = ("Domain Admins", "Enterprise Admins", "Schema Admins",
                      "Account Operators")


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Which plans need a second engineer (governance.yaml `approval:`); off by default."""

    always: bool = False  # every plan that changes something
    destructive: int | None = None  # more destructive changes than this for one partner
    privileged: bool = False  # any change to a privileged group
    lifecycle: bool = False  # every offboarding, purge and merge of partners
    valid_hours: int = 24  # how long an approval holds after it was made

    @property
    def active(self) -> bool:
        return self.always or self.destructive is not None or self.privileged or \
            self.lifecycle


NO_POLICY = ApprovalPolicy()


@dataclass(frozen=True, slots=True)
class Approver:
    """An engineer who may approve, with the public key of their signatures."""

    name: str  # their login name on the control machine: a plan's planner is one too
    key: str  # "ssh-ed25519 AAAA...": type and key, no comment
    fingerprint: str  # "SHA256:...", as `ssh-keygen -l` shows it


@dataclass(frozen=True, slots=True)
class Approval:
    """One signed approval, as the plan file (or an approval file) carries it."""

    subject: str  # "plan sha256:<hex>" or "offboard frl/vlieland"
    approver: str
    fingerprint: str
    signed: datetime  # UTC
    signature: str  # the armored SSH signature over `statement(...)`

    @property
    def statement(self) -> bytes:
        return statement(self.subject, self.approver, self.fingerprint, self.signed)

    def to_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "approver": self.approver,
                "fingerprint": self.fingerprint, "signed": self.signed.isoformat(),
                "signature": self.signature}


def statement(subject: str, approver: str, fingerprint: str, signed: datetime) -> bytes:
    """What an approver signs: one field a line, nothing left to interpretation."""
    return (f"{STATEMENT_HEADER}\nsubject: {subject}\napprover: {approver}\n"
            f"key: {fingerprint}\nsigned: {signed.isoformat()}\n").encode()


def plan_subject(digest: str) -> str:
    return f"plan sha256:{digest}"


def operation_subject(operation: str, region: str, partners: Collection[str]) -> str:
    """The subject of an approval of a lifecycle operation: `offboard frl/vlieland`."""
    return f"{operation} {region}/{','.join(sorted(partners))}"


def approval_from(data: Any) -> Approval:
    """An approval read back from JSON; ValueError says what is wrong with it."""
    if not isinstance(data, Mapping):
        raise ValueError("an approval is a JSON object")
    fields = ("subject", "approver", "fingerprint", "signed", "signature")
    missing = [f for f in fields if not isinstance(data.get(f), str) or not data[f]]
    if missing:
        raise ValueError(f"an approval without {', '.join(missing)}")
    if any(len(data[f]) > SIGNATURE_MAX for f in fields):
        raise ValueError(f"an approval with a field over {SIGNATURE_MAX} characters")
    try:
        signed = datetime.fromisoformat(data["signed"])
    except ValueError:
        raise ValueError(f"an approval's time {data['signed'][:40]!r} is no ISO 8601 "
                         "time") from None
    if signed.tzinfo is None:
        raise ValueError("an approval's time without its time zone")
    if not 2000 <= signed.year <= 9000:
        raise ValueError(f"an approval signed in the year {signed.year}")
    return Approval(data["subject"], data["approver"], data["fingerprint"], signed,
                    data["signature"])


def approval_reasons(plan: Plan, policy: ApprovalPolicy, privileged: Collection[str],
                     operation: str = "") -> list[str]:
    """Why the region's policy wants a second engineer for this plan; empty when it does not.

    Args:
        plan: the plan as it would be applied.
        policy: the region's policy.
        privileged: the names of the groups the region marks privileged.
        operation: a lifecycle operation the plan belongs to ("offboard", "purge",
            "merge"), "" for a plain apply.
    """
    if not policy.active:
        return []
    changes = [c for s in plan.sections for c in s.changes]
    reasons: list[str] = []
    if policy.lifecycle and operation:
        reasons.append(f"it is a partner's {operation} (approval.lifecycle)")
    if policy.always and changes:
        reasons.append(f"every plan with changes needs one (approval.always): {len(changes)}")
    if policy.destructive is not None:
        counts = Counter(c.partner or "(shared)" for c in changes if c.destructive)
        over = {p: n for p, n in sorted(counts.items()) if n > policy.destructive}
        if over:
            reasons.append("more destructive changes than approval.destructive "
                           f"({policy.destructive}) allows for "
                           + ", ".join(f"{p} ({n})" for p, n in over.items()))
    if policy.privileged:
        names = {n.lower() for n in privileged}
        touched = sorted({c.key for c in changes if c.backend is Backend.DIRECTORY
                          and c.kind in (ObjectKind.GROUP, ObjectKind.MEMBERS)
                          and c.key.lower() in names})
        if touched:
            reasons.append("it changes a privileged group (approval.privileged): "
                           + ", ".join(touched))
    return reasons


def approval_problem(approval: Approval, subject: str, planner: str, made: datetime,
                     now: datetime, policy: ApprovalPolicy,
                     approvers: Mapping[str, Approver]) -> str:
    """Why this approval does not hold for `subject`, or "" when it does (its signature is
    checked apart, by `ssc_infra.state.approval.signature_holds`).

    Args:
        planner: the login name of the engineer who made the plan (or runs the operation).
        made: when the plan was made (for an operation: now).
    """
    who = approvers.get(approval.approver)
    if approval.subject != subject:
        return "it approves something else (another plan, or the plan was changed since)"
    if who is None:
        return (f"{approval.approver!r} is not an approver in governance.yaml")
    if who.fingerprint != approval.fingerprint:
        return (f"signed with key {approval.fingerprint}, not {approval.approver}'s key in "
                "governance.yaml")
    if approval.approver == planner:
        return f"{approval.approver} made the plan: another engineer approves it (four eyes)"
    if approval.signed + CLOCK_SKEW < made:
        return "signed before the plan was made"
    if approval.signed > now + CLOCK_SKEW:
        return "signed in the future (a clock is wrong)"
    expires = approval.signed + timedelta(hours=policy.valid_hours)
    if now > expires:
        return (f"expired at {expires.isoformat(timespec='minutes')} (approval.valid_hours: "
                f"{policy.valid_hours})")
    return ""


def login_of(operator: str) -> str:
    """The login name in an operator's `user@host`."""
    return operator.rpartition("@")[0] or operator


@dataclass(frozen=True, slots=True)
class Approved:
    """Who made what an apply applies and who approved it, for every line of its audit."""

    planner: str
    approvals: tuple[Approval, ...] = ()

    @property
    def approvers(self) -> tuple[str, ...]:
        """"tvdmeer (SHA256:...)" for each approval that held."""
        return tuple(f"{a.approver} ({a.fingerprint})" for a in self.approvals)
