"""How a problem of the inventory is worded: a value quoted, a close match offered, an
identifier's fault named, a pydantic validation error placed at its file:line.

Shared by the loader (`files`, `people`, `devices`), the HR export mappings (`hrexport`) and
onboarding (`ssc_infra.lifecycle.onboard`), so that one fault reads the same wherever it is
found.
"""

from __future__ import annotations

import difflib
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from ssc_infra.core.errors import Problem, quoted
from ssc_infra.sources.located import Located
from ssc_infra.sources.schema import unprintable

SCHEMA_HINT = "see `ssc-infra schema` for the keys this file takes"


def did_you_mean(value: str, choices: list[str]) -> str:
    """A hint naming the allowed value closest to a mistyped one; "" when none is close.

    Args:
        value: what the file says; one of over 100 characters is no typo and gets no hint.
        choices: the values allowed in its place.
    """
    if len(value) > 100:
        return ""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def identifier_problem(value: str, limit: int) -> str:
    """Why an identifier (an employee id, an asset tag) fails its pattern, in words.

    Args:
        value: the identifier, known not to match its pattern.
        limit: the most characters it may have.
    """
    if not value:
        return "empty"
    bad = unprintable(value)
    if bad:
        return bad
    if len(value) > limit:
        return f"{len(value)} characters, at most {limit}"
    for index, char in enumerate(value):
        if not (char.isascii() and (char.isalnum() or (index and char in "._-"))):
            return f"character {char!r} at position {index + 1}"
    return "not allowed here"


def schema_problem(model: type[BaseModel], doc: Located, error: Any, partner: str) -> Problem:
    """One pydantic validation error of a YAML document as a Problem at its file:line.

    An unknown key gets the closest allowed key as its hint (or the list of them), a value that
    does not fit gets its field's description.

    Args:
        model: the model the document was validated against, to name the keys a place takes.
        doc: the document, for the line of the error's location.
        error: one entry of `ValidationError.errors()`.
        partner: the partner whose file it is; "" for the shared files (region.yaml).
    """
    loc: tuple[str | int, ...] = tuple(error["loc"])
    line = doc.line(loc)
    dotted = ".".join(str(part) for part in loc) or "(top)"
    kind = error["type"]
    if kind == "extra_forbidden":
        holder = _model_at(model, loc[:-1])
        allowed = sorted(holder.model_fields) if holder else []
        hint = did_you_mean(str(loc[-1]), allowed) or f"allowed here: {', '.join(allowed)}"
        return Problem(doc.file, line, f"unknown key {dotted!r}", hint, partner)
    if kind == "missing":
        return Problem(doc.file, line, f"missing required key {dotted!r}", SCHEMA_HINT, partner)
    value = error.get("input")
    description = ""
    holder = _model_at(model, loc[:-1])
    if holder is not None and isinstance(loc[-1], str) and loc[-1] in holder.model_fields:
        description = holder.model_fields[loc[-1]].description or ""
    shown = quoted(value) if isinstance(value, str) else quoted(repr(value))[1:-1]
    if kind == "string_pattern_mismatch":
        why = unprintable(value) if isinstance(value, str) else ""
        message = f"{dotted}: {shown} is not valid" + (f": {why}" if why else "")
        return Problem(doc.file, line, message, description or SCHEMA_HINT, partner)
    message = f"{dotted}: {error['msg'].rstrip('.')} (got {shown})"
    return Problem(doc.file, line, message, description or SCHEMA_HINT, partner)


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the value at `loc` (to name its allowed keys)."""
    current: Any = model
    keyed = False  # the part after a dict field is a key (a service code), not a field
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        keyed = get_origin(field.annotation) is dict
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is not None:
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[-1] if args else None
    return annotation
