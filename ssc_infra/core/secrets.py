"""Secrets: a password that never shows itself, new passwords, and where new ones go."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from ssc_infra.core.plan import Change

# Called with the change that created an account and that account's initial password.
PasswordSink = Callable[[Change, str], None]


class Secret:
    """A password that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__


def new_password(length: int = 20) -> str:
    """A random password that meets AD complexity: all four character classes, no name."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#%+-.=?@_")
    while True:
        chars = [secrets.choice(c) for c in classes]
        alphabet = "".join(classes)
        chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        # A letter or digit first: a password pasted into a spreadsheet is never a formula.
        if password[0].isalnum() and all(any(ch in c for ch in password) for c in classes):
            return password
