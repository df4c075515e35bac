"""One small hierarchy of errors; only the CLI turns them into exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class SscError(Exception):
    """Base of every error the tool raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the inventory, located as precisely as the source allows.

    Args:
        file: path of the file, relative to the inventory directory where possible.
        line: 1-based line number, or 0 when the problem concerns the file as a whole.
        message: what is wrong, naming the offending value.
        hint: what to do about it.
        partner: the partner code, when the problem belongs to one partner.
    """

    file: str
    line: int
    message: str
    hint: str = ""
    partner: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        text = f"{self.where()}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class InventoryError(SscError):
    """The inventory cannot be loaded; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.message))
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"the inventory has {count} {noun}:\n{lines}")


class NamingError(SscError):
    """No account name could be made for a person under the naming policy."""


class BackendError(SscError):
    """A backend (AD, Graph, Ansible, NetBox) failed; the message names the target."""


class GuardTripped(SscError):
    """A partner's plan exceeds a safety limit and is held back."""


def quoted(value: str) -> str:
    """A value quoted for a message: control characters escaped, a long one cut short.

    Args:
        value: the value as read or given; it may be hostile (a control character, a megabyte
            of text).
    """
    if len(value) <= 60:
        return repr(value)
    return f"{value[:40]!r}... ({len(value)} characters)"
