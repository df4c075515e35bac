"""Slugs: the lowercase ASCII form of a label ("Sociaal Domein" -> "sociaal-domein").

Used by the loader, which refuses two labels of one partner that make the same slug, and by
`desired`, which makes group names of them.
"""

from __future__ import annotations

import re
import unicodedata


def slug(text: str) -> str:
    """Lowercase ASCII letters and digits, with one '-' between runs; "x" when none are left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"
