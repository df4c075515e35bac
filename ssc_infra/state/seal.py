"""Sealed plan files: what is applied is what was reviewed.

A saved plan is JSON an engineer can read; it is sealed with an HMAC-SHA256 over its canonical
form, with a key kept in the state directory (0600, made on first use). Any edit — a change
added, a DN or a digest altered, a held partner released by hand — breaks the seal, and the
whole plan is refused. The key never leaves the state directory; a plan is applied with the
state directory it was made with.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import SscError

KEY_FILE = "plan.key"
ALGORITHM = "HMAC-SHA256"


class SealError(SscError):
    """A plan file whose seal is missing or does not match its content."""


def plan_key(state: Path) -> bytes:
    """The state directory's sealing key; made (0600) when there is none yet."""
    path = state / KEY_FILE
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as e:
        raise SscError(f"{path}: the plan sealing key cannot be read ({e}); remove it to make "
                       "a new one (plans saved before then must be made again)") from e
    if len(key) < 32:
        raise SscError(f"{path}: the plan sealing key is too short; remove it to make a new one")
    return key


# Beside the seal, not under it: the approvals (`ssc_infra.state.approval`) are added to a
# sealed plan by another engineer; each is signed over the plan's digest, which they leave as
# it is.
OUTSIDE = frozenset({"seal", "approvals"})


def _canonical(data: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in data.items() if k not in OUTSIDE}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def plan_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of a plan file's content as the seal covers it: what an approval approves."""
    return hashlib.sha256(_canonical(data)).hexdigest()


def _mac(data: Mapping[str, Any], key: bytes) -> str:
    return hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()


def seal(data: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The plan data with its seal."""
    return {**data, "seal": {"algorithm": ALGORITHM, "mac": _mac(data, key)}}


def unseal(data: Any, key: bytes, where: str) -> dict[str, Any]:
    """The plan data when its seal matches; SealError (naming the file) when not."""
    if not isinstance(data, dict):
        raise SealError(f"{where} is not a plan file (no JSON object); make a new plan")
    found = data.get("seal")
    if not isinstance(found, dict) or found.get("algorithm") != ALGORITHM or \
            not isinstance(found.get("mac"), str):
        raise SealError(f"{where} has no seal: it was not made by `ssc-infra plan --out`, or "
                        "the seal was removed. Nothing is applied; make a new plan")
    if not hmac.compare_digest(found["mac"], _mac(data, key)):
        raise SealError(f"{where} was changed after it was made (or made with another state "
                        "directory): its seal does not match. Nothing is applied; review a new "
                        "plan (`ssc-infra plan --out FILE`) and apply that")
    return {k: v for k, v in data.items() if k != "seal"}


class SealCheck(StrEnum):
    """What reading a plan file found out about its seal (`check_seal`)."""

    VERIFIED = "verified"  # sealed with this state directory's key, unchanged since
    UNSEALED = "unsealed"  # no seal: a drift report, or `plan --format json` output
    UNVERIFIED = "unverified"  # sealed, but this state directory has no key to check it


def check_seal(data: Any, state: Path, where: str) -> tuple[dict[str, Any], SealCheck]:
    """A plan file's data and what its seal says, for reading only: never makes a key.

    Showing a plan changes nothing, so a file without a seal, or whose seal this state
    directory cannot check, is still shown (the caller says so); only `apply` needs the seal.
    A seal that does not match is refused all the same: what would be shown is not what was
    made, and apply would refuse it whole.

    Raises:
        SealError: the data is no plan object, or its seal does not match the key.
    """
    if not isinstance(data, dict):
        raise SealError(f"{where} is not a plan file (no JSON object)")
    if "seal" not in data:
        return data, SealCheck.UNSEALED
    body = {k: v for k, v in data.items() if k != "seal"}
    path = state / KEY_FILE
    if not path.is_file():
        return body, SealCheck.UNVERIFIED
    found = data["seal"]
    if not isinstance(found, dict) or found.get("algorithm") != ALGORITHM or \
            not isinstance(found.get("mac"), str):
        raise SealError(f"{where} has a damaged seal: edited by hand, or not made by "
                        "`ssc-infra plan --out`. Not shown: apply would refuse it whole; make "
                        "a new plan")
    if not hmac.compare_digest(found["mac"], _mac(data, _read_key(path))):
        raise SealError(f"{where}: its seal does not match the key in {path}: the file was "
                        "changed after it was made, or made with another state directory. Not "
                        "shown: apply would refuse it whole. Pass the --state-dir it was made "
                        "with, or make a new plan (`ssc-infra plan --out FILE`)")
    return body, SealCheck.VERIFIED
