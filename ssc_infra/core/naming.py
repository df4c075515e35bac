"""Account names from HR names: logon name, UPN, and the names people see.

Frisian and Dutch reality: diacritics (Wâtse Bûmâ), infixes or *tussenvoegsels* (de, van der,
van 't) that sort after the given name ("Vries, Jan de"), double surnames
("de Boer-van der Wal"), apostrophes, and long names that must fit AD's 20 characters.

Template placeholders (region.yaml `naming.sam` and `naming.upn`):

    {given}           first given name, letters only:      Wâtse -> watse
    {given_initial}   its first letter:                    w
    {infix}           the infix, letters only:              van der -> vander
    {infix_initials}  the infix's initials:                 van der -> vd
    {surname}         the surname without the infix:        Boer-van der Wal -> boervanderwal
    {full_surname}    infix and surname (hyphens kept in a UPN): de Vries -> devries

Collisions are settled across the whole region, because every partner shares one AD domain.
Names already handed out are kept (`existing`): the directory's for hybrid partners, the name
ledger's (`ssc_infra.state.ledger`) for cloud partners, for people who left, and for runs without a
directory; names of objects the tool does not manage are avoided (`reserved`). New people are
named in order of start date, then partner and employee id, so the same inventory always gives
the same names; an earlier starter who joins later gets the number (jvries2), since the names
handed out before are kept.
"""

from __future__ import annotations

import functools
import operator
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ssc_infra.core.bulk import quick_init
from ssc_infra.core.errors import NamingError
from ssc_infra.core.model import NamingPolicy, Person, PersonKey

PLACEHOLDERS = ("given", "given_initial", "infix", "infix_initials", "surname", "full_surname")
UPN_LOCAL_MAX = 64

# Letters NFKD does not take apart into a base letter and a mark.
_TRANSLIT = str.maketrans({
    "ß": "ss", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe", "ĳ": "ij",
    "Ĳ": "IJ", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "þ": "th", "ı": "i",
})
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_NOT_SAM = re.compile(r"[^a-z0-9]+")
_NOT_UPN = re.compile(r"[^a-z0-9.-]+")


# Newcomers are named in this order: the earliest starter gets the plain name.
START_ORDER = ("start_date", "partner", "employee_id")


@dataclass(frozen=True, slots=True)
class ExistingName:
    """What the directory already holds for a managed account; it is kept as it is."""

    sam: str
    upn: str | None = None


@quick_init  # built once per person: 200,000 times in a big region
@dataclass(frozen=True, slots=True)
class AccountName:
    """Every name of one account.

    sn holds the infix with the surname ("de Vries") so that "givenName sn" reads as the
    person's name wherever a client composes it; displayName sorts the Dutch way.
    """

    sam: str
    upn: str
    given_name: str  # givenName: "Jan"
    surname: str  # sn: "de Vries"
    full_name: str  # the cn: "Jan de Vries"
    display_name: str  # displayName, sorted: "Vries, Jan de"


@functools.lru_cache(maxsize=65536)
def transliterate(text: str) -> str:
    """ASCII letters for any Latin name: Wâtse Bûmâ -> Watse Buma, Straße -> Strasse."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode(
        "ascii", "ignore").decode()


def clean(text: str) -> str:
    """Whitespace collapsed, typographic apostrophes made plain, Unicode composed."""
    return " ".join(unicodedata.normalize("NFC", text.translate(_APOSTROPHES)).split())


@functools.lru_cache(maxsize=65536)
def _letters(text: str) -> str:
    return _NOT_SAM.sub("", transliterate(text).lower())


def _placeholders(given: str, infix: str, surname: str, for_upn: bool) -> dict[str, str]:
    first = _letters(given.split(" ")[0]) if given else ""
    infix_letters = _letters(infix)
    if for_upn:
        # Hyphens of a double surname stay readable in a UPN: deboer-vanderwal.
        pieces = (_letters(p) for p in surname.split("-"))
        full = infix_letters + "-".join(p for p in pieces if p)
    else:
        full = infix_letters + _letters(surname)
    return {
        "given": first,
        "given_initial": first[:1],
        "infix": infix_letters,
        "infix_initials": "".join(w[0] for w in transliterate(infix).lower().split()
                                  if w[0].isalpha()),
        "surname": _letters(surname),
        "full_surname": full,
    }


def check_template(template: str, what: str) -> None:
    """NamingError for a placeholder the policy does not know."""
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None and field not in PLACEHOLDERS:
            raise NamingError(
                f"naming.{what}: unknown placeholder {{{field}}}; use one of: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )


def base_names(person: Person, policy: NamingPolicy, upn_suffix: str) -> AccountName:
    """The names of one person before collisions are settled."""
    sam, local, given, surname, full, display = _person_base(person, policy)
    return AccountName(sam, f"{local}@{upn_suffix}", given, surname, full, display)


def _person_base(person: Person, policy: NamingPolicy) -> tuple[str, str, str, str, str, str]:
    """sam, UPN local part, givenName, sn, cn and displayName before collisions are settled."""
    try:
        return _base(person.given_name, person.infix, person.surname, policy.sam, policy.upn,
                     policy.max_len)
    except ValueError:
        raise NamingError(
            f"no account name can be made for {person.partner}/{person.employee_id}: the "
            "name has no letters the policy uses; correct the HR export"
        ) from None


def naming_problem(given: str, infix: str, surname: str, policy: NamingPolicy) -> str:
    """Why no account name can be made of this name under the policy; "" when one can.

    The loader asks it of every distinct name of an HR export, so that such a person is a
    problem of their partner's export (the partner held back) and not an error of the whole
    region's naming.
    """
    try:
        _base(given, infix, surname, policy.sam, policy.upn, policy.max_len)
    except ValueError:
        return (f"naming.sam {policy.sam!r} or naming.upn {policy.upn!r} finds no letter a-z "
                "in it (diacritics taken off), so no account name can be made of it")
    return ""


@functools.lru_cache(maxsize=65536)  # names repeat a lot across thousands of people
def _base(given_text: str, infix_text: str, surname_text: str, sam_template: str,
          upn_template: str, max_len: int) -> tuple[str, str, str, str, str, str]:
    given, infix, surname = clean(given_text), clean(infix_text).lower(), clean(surname_text)
    sam_values = _placeholders(given, infix, surname, for_upn=False)
    sam = _NOT_SAM.sub("", sam_template.format(**sam_values).lower())[:max_len]
    upn_values = _placeholders(given, infix, surname, for_upn=True)
    local = _NOT_UPN.sub("", upn_template.format(**upn_values).lower()).strip(".-")
    local = re.sub(r"\.{2,}", ".", local)[:UPN_LOCAL_MAX]
    if not sam or not local:
        raise ValueError("no usable letters")
    sn = f"{infix} {surname}" if infix else surname
    full = " ".join(p for p in (given, infix, surname) if p)
    display = f"{surname}, {given}" + (f" {infix}" if infix else "")
    return sam, local, given, sn, full, display


class _Names:
    """Free names of one kind, with the next number to try per base (no quadratic scans)."""

    def __init__(self, taken: Iterable[str], limit: int) -> None:
        self.taken = {n.lower() for n in taken}
        self.limit = limit
        self.next: dict[str, int] = {}

    def claim(self, base: str) -> str:
        if base not in self.taken:
            self.taken.add(base)
            return base
        taken, limit = self.taken, self.limit
        number = self.next.get(base, 2)
        while True:  # the base cut short to leave room for its number: jvries2
            suffix = str(number)
            candidate = base[: limit - len(suffix)] + suffix
            if candidate not in taken:
                break
            number += 1
        self.next[base] = number + 1
        taken.add(candidate)
        return candidate


def _fits(upn: str, base: str) -> bool:
    """Whether a kept UPN is still the person's name (`jan.vries@x` or `jan.vries2@x`)."""
    local, _, suffix = upn.lower().rpartition("@")
    want, _, want_suffix = base.lower().rpartition("@")
    return suffix == want_suffix and (local == want or (local.startswith(want)
                                                        and local[len(want):].isdigit()))


def assign_names(
    people: Iterable[Person],
    policy: NamingPolicy,
    upn_suffixes: Mapping[str, str],
    existing: Mapping[PersonKey, ExistingName] | None = None,
    reserved: Iterable[str] = (),
    reserved_upns: Iterable[str] = (),
    in_start_order: bool = False,
) -> dict[PersonKey, AccountName]:
    """Names for everyone, unique across the region, stable from run to run.

    Args:
        people: the people to name (all partners: AD names are unique domain-wide).
        policy: the region's naming policy.
        upn_suffixes: partner code -> UPN suffix.
        existing: names handed out before (the directory's, the ledger's), kept unchanged;
            a name of someone not in `people` (a leaver) stays taken.
        reserved: sAMAccountNames of objects the tool does not manage; avoided.
        reserved_upns: UPNs of objects the tool does not manage; avoided.
        in_start_order: `people` come sorted by START_ORDER already (not sorted again).

    Raises:
        NamingError: an unknown placeholder, or a name without usable letters.
    """
    check_template(policy.sam, "sam")
    check_template(policy.upn, "upn")
    existing = existing or {}
    sams = _Names([*reserved, *(e.sam for e in existing.values())], policy.max_len)
    upns: dict[str, _Names] = {}
    kept_upns = [name.upn for name in existing.values() if name.upn]
    for taken in (*kept_upns, *reserved_upns):
        if "@" in taken:
            local, suffix = taken.lower().rsplit("@", 1)
            upns.setdefault(suffix, _Names((), UPN_LOCAL_MAX)).taken.add(local)
    result: dict[PersonKey, AccountName] = {}
    # Kept names first (their UPNs claim their local parts), then newcomers by start date:
    # one sort by start date, then a stable split (no key tuple built per person).
    by_start = people if in_start_order and isinstance(people, list) else \
        sorted(people, key=operator.attrgetter(*START_ORDER))
    order = [p for p in by_start if p.key in existing] + [
        p for p in by_start if p.key not in existing] if existing else by_start
    # One UPN pool per suffix, found by partner; one base per distinct name.
    pools = {code: upns.setdefault(suffix.lower(), _Names((), UPN_LOCAL_MAX))
             for code, suffix in upn_suffixes.items()}
    bases: dict[tuple[str, str, str], tuple[str, str, str, str, str, str]] = {}
    taken_sams = sams.taken
    follows = policy.upn_follows_name
    for person in order:
        base = bases.get((person.given_name, person.infix, person.surname))
        if base is None:
            base = bases[(person.given_name, person.infix, person.surname)] = \
                _person_base(person, policy)
        base_sam, base_local, given, sn, full, display = base
        kept = existing.get(person.key) if existing else None
        if kept:
            sam = kept.sam
        elif base_sam not in taken_sams:  # `sams.claim`, inline: most names are free
            taken_sams.add(base_sam)
            sam = base_sam
        else:
            sam = sams.claim(base_sam)
        suffix = upn_suffixes[person.partner]
        upn = kept.upn if kept and kept.upn else None
        if upn is not None and follows and not _fits(upn, f"{base_local}@{suffix}"):
            upn = None  # the old UPN stays taken: it lives on as an alias
        if upn is None:
            pool = pools[person.partner]
            if base_local not in pool.taken:  # `pool.claim`, inline
                pool.taken.add(base_local)
                upn = f"{base_local}@{suffix}"
            else:
                upn = f"{pool.claim(base_local)}@{suffix}"
        result[person.key] = AccountName(sam, upn, given, sn, full, display)
    return result
