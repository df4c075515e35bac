"""The small part of OData the emulator understands: $filter, $select, paging tokens.

$filter knows `eq`, `in (...)`, `startswith(prop,'x')`, `and`, `or` and parentheses, on the
properties the resource allows (Graph's default, non-advanced query support); strings compare
without regard to case, as the directory does. Anything else is refused with 400 naming what
the emulator does not support, rather than silently answered differently from Graph.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ssc_infra_lab.graph_emulator.model import GraphError

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[(),])|"
                    r"(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<num>-?\d+(?:\.\d+)?))")
_LITERAL_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


def _syntax(detail: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid filter clause: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _syntax(f"unexpected text at position {position}: {text[position:][:20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, properties: Mapping[str, str], resource: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.properties = properties  # lower-case name -> Graph's name
        self.resource = resource

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise _syntax("the expression ends too early")
        self.at += 1
        return token

    def expect(self, value: str) -> None:
        _kind, text = self.take()
        if text.lower() != value:
            raise _syntax(f"expected {value!r}, found {text!r}")

    def keyword(self, word: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.lower() == word:
            self.at += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek()[0] != "end":
            raise _syntax(f"unexpected {self.peek()[1]!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda item: any(part(item) for part in parts)

    def conjunction(self) -> Predicate:
        parts = [self.primary()]
        while self.keyword("and"):
            parts.append(self.primary())
        if len(parts) == 1:
            return parts[0]
        return lambda item: all(part(item) for part in parts)

    def primary(self) -> Predicate:
        kind, text = self.peek()
        if kind == "punct" and text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        if kind == "word" and text.lower() == "startswith":
            self.take()
            self.expect("(")
            name = self.property()
            self.expect(",")
            prefix = self.literal()
            self.expect(")")
            if not isinstance(prefix, str):
                raise _syntax("startswith needs a string")
            return lambda item: isinstance(item.get(name), str) and \
                str(item[name]).lower().startswith(prefix.lower())
        name = self.property()
        operator = self.take()[1].lower()
        if operator == "eq":
            value = self.literal()
            return lambda item: _equal(item.get(name), value)
        if operator == "in":
            self.expect("(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.literal())
            self.expect(")")
            return lambda item: any(_equal(item.get(name), v) for v in values)
        raise GraphError(400, "Request_UnsupportedQuery",
                         f"The emulator does not support the filter operator {operator!r} "
                         "(it knows eq, in, startswith, and, or)")

    def property(self) -> str:
        kind, text = self.take()
        if kind != "word":
            raise _syntax(f"expected a property name, found {text!r}")
        name = self.properties.get(text.lower())
        if name is None:
            raise GraphError(400, "Request_UnsupportedQuery",
                             "Unsupported or invalid query filter clause specified for "
                             f"property '{text}' of resource '{self.resource}'.")
        return name

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "word" and text.lower() in _LITERAL_WORDS:
            return _LITERAL_WORDS[text.lower()]
        if kind == "num":
            return float(text) if "." in text else int(text)
        raise _syntax(f"expected a value, found {text!r}")


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return bool(actual == wanted)


def parse_filter(text: str, properties: Sequence[str], resource: str) -> Predicate:
    """A predicate over a resource's JSON for an OData $filter.

    Args:
        text: the $filter value.
        properties: the properties that may be filtered on.
        resource: Graph's resource name for messages, e.g. "User".

    Raises:
        GraphError: 400, for a syntax error or a property or operator the emulator refuses.
    """
    return _Parser(text, {p.lower(): p for p in properties}, resource).parse()


def parse_select(text: str | None, properties: Sequence[str], type_name: str) -> list[str] | None:
    """The $select list in Graph's spelling, or None without $select.

    Raises:
        GraphError: 400 for a property the type does not have, in Graph's words.
    """
    if text is None:
        return None
    known = {p.lower(): p for p in properties}
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            continue
        if name.lower() not in known:
            raise GraphError(400, "BadRequest", f"Could not find a property named '{name}' on "
                             f"type 'microsoft.graph.{type_name}'.")
        if known[name.lower()] not in chosen:
            chosen.append(known[name.lower()])
    return chosen


def parse_top(text: str | None, default: int, limit: int = 999) -> int:
    if text is None:
        return default
    try:
        top = int(text)
    except ValueError:
        top = 0
    if not 1 <= top <= limit:
        raise GraphError(400, "Request_BadRequest", f"Invalid page size specified: '{text}'. "
                         f"Must be between 1 and {limit} inclusive.")
    return top


def encode_token(data: Mapping[str, Any]) -> str:
    """An opaque paging or delta token (base64url JSON; clients must not read it)."""
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise GraphError(400, "BadRequest", f"The {what} is malformed.") from e
    if not isinstance(data, dict):
        raise GraphError(400, "BadRequest", f"The {what} is malformed.")
    return data
