"""Dutch voorvoegsels: an infix that an HR export left inside the surname, split off.

Many Dutch HR systems keep the infix (*tussenvoegsel*) in a field of its own; some exports, or
some people's records in them, carry it inside the surname: "van de Wal" with no infix. Taken
as it is, that gives the logon name `avandewal` and the display name "van de Wal, Amelia",
where the Dutch way is `awal` and "Wal, Amelia van de". `split_infix` takes the leading
voorvoegsels off such a surname, the longest that matches first ("van der" before "van"),
case-insensitively ("Van Dijk" too), and keeps them as they were written.

The list follows the voorvoegsels of the Dutch personal records database (BRP, table 36): the
Dutch and German ones. The Romance ones of that table (da, del, la, le, du...) are left out:
"Le" and "La" are whole surnames as often as they are prefixes, and a wrong split renames the
person. A surname is never left empty: "De" alone, or "Van der", stays the surname.
"""

from __future__ import annotations

VOORVOEGSELS = frozenset({
    "'t",
    "aan 't", "aan de", "aan den", "aan der", "aan het",
    "auf dem", "auf den", "auf der", "aus dem", "aus den", "aus der",
    "bij 't", "bij de", "bij den", "bij het",
    "de", "den", "der", "het",
    "in 't", "in de", "in den", "in der", "in het",
    "onder 't", "onder de", "onder den", "onder het",
    "op 't", "op de", "op den", "op der", "op het", "op ten",
    "over 't", "over de", "over den", "over het",
    "te", "ten", "ter",
    "uit 't", "uit de", "uit den", "uit het", "uit ten",
    "van", "van 't", "van de", "van den", "van der", "van het", "van te", "van ter",
    "voor 't", "voor de", "voor den", "voor in 't",
    "vom", "von", "von dem", "von den", "von der", "zu", "zum", "zur",
})
_LONGEST = max(len(v.split()) for v in VOORVOEGSELS)
# Apostrophes as HR systems type them ('t, ’t, `t): one spelling for the match only.
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})


def split_infix(surname: str) -> tuple[str, str]:
    """The voorvoegsels at the start of `surname`, and the surname after them.

    Args:
        surname: a surname as an HR export gives it, e.g. "van de Wal" or "Van 't Hof".

    Returns:
        (infix, surname), each as written with its spaces collapsed: ("van de", "Wal"),
        ("Van 't", "Hof"). ("", surname) when it starts with no voorvoegsel, or when no
        surname would be left after one ("De", "van der").
    """
    words = surname.split()
    for count in range(min(_LONGEST, len(words) - 1), 0, -1):
        if _is_voorvoegsel(words[:count]) and not _is_voorvoegsel(words[count:]):
            return " ".join(words[:count]), " ".join(words[count:])
    return "", " ".join(words)


def _is_voorvoegsel(words: list[str]) -> bool:
    return " ".join(words).lower().translate(_APOSTROPHES) in VOORVOEGSELS
