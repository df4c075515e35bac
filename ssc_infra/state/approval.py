"""Approvals signed and checked with the engineers' own SSH keys (`ssh-keygen -Y`).

`sign` has ssh-keygen sign a statement (`ssc_infra.core.approval.statement`) with the
approver's key — a private key file, or a public key whose private half an ssh-agent holds;
a key with a passphrase asks for it on the terminal as ssh-keygen always does. `signature_holds`
checks a signature against the approver's key as governance.yaml lists it, through an
allowed-signers file made for that one check. The plan file's approvals are kept beside its
seal (`ssc_infra.state.seal`), outside what the seal covers: adding one changes no item.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ssc_infra.core.approval import NAMESPACE, Approval, Approver, approval_from, statement
from ssc_infra.core.errors import SscError
from ssc_infra.core.governance import key_fingerprint
from ssc_infra.state.folder import write_private

APPROVALS = "approvals"  # the plan file's key for its approvals
TIMEOUT = 120  # seconds; ssh-keygen may wait for a passphrase


class SigningError(SscError):
    """ssh-keygen could not sign (no key, a wrong passphrase, no ssh-keygen)."""


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise SigningError("ssh-keygen is not installed: install openssh-client "
                           "(apt-get install openssh-client)")
    return found


def public_key_of(key_file: Path) -> str:
    """The public key ("type base64") of a key file: KEY.pub beside a private key, the file
    itself when it is a public key, else derived by `ssh-keygen -y` (which may ask for the
    passphrase)."""
    for candidate in (key_file, Path(f"{key_file}.pub")):
        try:
            text = candidate.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.startswith(("ssh-", "ecdsa-", "sk-")) and "\n" not in text:
            return " ".join(text.split()[:2])
    done = subprocess.run([_ssh_keygen(), "-y", "-f", str(key_file)], capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise SigningError(f"cannot read the key {key_file}: {done.stderr.strip()}; pass "
                           "--key with your private key (or its .pub, with ssh-agent)")
    return " ".join(done.stdout.split()[:2])


def approver_for(key_file: Path, approvers: Mapping[str, Approver]) -> Approver:
    """The listed approver whose key `key_file` is; SigningError when none is."""
    fingerprint = key_fingerprint(public_key_of(key_file))
    for approver in approvers.values():
        if approver.fingerprint == fingerprint:
            return approver
    raise SigningError(f"the key {key_file} ({fingerprint}) is no approver's key in "
                       "governance.yaml: add your name and public key there (a reviewed "
                       "change of the inventory), or pass --key with the key listed for you")


def sign(subject: str, approver: Approver, key_file: Path,
         now: datetime | None = None) -> Approval:
    """`approver`'s approval of `subject`, signed now with `key_file`."""
    signed = (now or datetime.now(UTC)).replace(microsecond=0)
    message = statement(subject, approver.name, approver.fingerprint, signed)
    done = subprocess.run([_ssh_keygen(), "-Y", "sign", "-n", NAMESPACE, "-q", "-f",
                           str(key_file)], input=message, capture_output=True,
                          timeout=TIMEOUT, check=False)
    if done.returncode != 0 or b"BEGIN SSH SIGNATURE" not in done.stdout:
        raise SigningError(f"ssh-keygen could not sign with {key_file}: "
                           f"{done.stderr.decode(errors='replace').strip() or 'no signature'}")
    return Approval(subject, approver.name, approver.fingerprint, signed,
                    done.stdout.decode("ascii").strip())


def signature_holds(approval: Approval, approver: Approver) -> bool:
    """Whether the approval's signature is `approver`'s key's, over its own statement."""
    with tempfile.TemporaryDirectory(prefix="ssc-approval-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(f'{approver.name} namespaces="{NAMESPACE}" {approver.key}\n',
                           encoding="ascii")
        signature = Path(tmp) / "approval.sig"
        signature.write_text(approval.signature + "\n", encoding="ascii")
        try:
            done = subprocess.run(
                [_ssh_keygen(), "-Y", "verify", "-f", str(allowed), "-I", approver.name,
                 "-n", NAMESPACE, "-s", str(signature)], input=approval.statement,
                capture_output=True, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


def add_approval(plan_file: Path, approval: Approval) -> None:
    """Write the plan file again with `approval` added to its approvals (0600, whole)."""
    data = read_plan_json(plan_file)
    kept = [a for a in data.get(APPROVALS) or [] if isinstance(a, dict)
            and a.get("approver") != approval.approver]  # a second approval replaces the first
    data[APPROVALS] = [*kept, approval.to_dict()]
    write_private(plan_file, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def write_approval(path: Path, approval: Approval) -> None:
    """An approval of an operation in a file of its own (`partner offboard --approval`)."""
    write_private(path, json.dumps({APPROVALS: [approval.to_dict()]}, indent=1) + "\n")


def read_plan_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SscError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise SscError(f"{path} is no plan or approval file (no JSON object)")
    return data


def read_approvals(path: Path) -> tuple[Approval, ...]:
    """The approvals in an approval file (`approve --operation ... --out FILE`)."""
    data = read_plan_json(path)
    entries = data.get(APPROVALS)
    if not isinstance(entries, list) or not entries:
        raise SscError(f"{path} holds no approvals: make one with `ssc-infra approve "
                       "--operation ... --out FILE`")
    try:
        return tuple(approval_from(entry) for entry in entries)
    except ValueError as e:
        raise SscError(f"{path}: {e}; make a new approval") from None
