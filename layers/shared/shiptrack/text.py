"""Text and values a caller sends, held to what may be stored and shown to others (docs/security.md, "Loose input").

The field types of the request models (:mod:`shiptrack.models`, :mod:`shiptrack.webhook_models`): one-line text,
free text, a strict JSON boolean, and the bounded shapes of titles, order ids, customer contact fields.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, Strict
from pydantic_core import PydanticCustomError

__all__ = [
    "Comment",
    "CustomerName",
    "Email",
    "JsonBool",
    "LogisticsChannel",
    "MultiLine",
    "OneLine",
    "OrderId",
    "Phone",
    "Title",
    "multi_line_text",
    "single_line_text",
]

# Text we store and show others (dashboards, e-mails, storefront webhooks) must not carry characters that change how
# it reads or breaks what reads it (docs/security.md, "Loose input"): C0/C1 controls (NUL, ESC …), DEL, the bidi
# embeddings, overrides and isolates that reorder text on screen ("Trojan Source"), and lone surrogates (not Unicode).
# Such input is refused with a 422 naming the field, never silently cleaned: the caller learns what was wrong.
# Right-to-left *letters* (Arabic, Hebrew) and the invisible LRM/RLM marks are ordinary text and pass.
_BIDI_AND_BROKEN = "\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_NOT_ONE_LINE = re.compile(f"[\x00-\x1f{_BIDI_AND_BROKEN}]")
_NOT_MULTI_LINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_BIDI_AND_BROKEN}]")


def _refuse(pattern: re.Pattern[str], value: str) -> str:
    found = pattern.search(value)
    if found is not None:
        raise PydanticCustomError(
            "forbidden_character",
            "control, bidi-override and unpaired surrogate characters are not allowed (U+{code} at {position})",
            {"code": f"{ord(found.group()):04X}", "position": found.start()},
        )
    return value


def single_line_text(value: str) -> str:
    """A validator: ``value`` unless it holds a control character (tab and newlines included), a bidi override or
    isolate, or an unpaired surrogate."""
    return _refuse(_NOT_ONE_LINE, value)


def multi_line_text(value: str) -> str:
    """A validator: as :func:`single_line_text`, but tab, line feed and carriage return are allowed."""
    return _refuse(_NOT_MULTI_LINE, value)


#: One line of text from a caller (titles, names, identifiers): see :func:`single_line_text`.
OneLine = AfterValidator(single_line_text)
#: Free text that may span lines (comments, descriptions): see :func:`multi_line_text`.
MultiLine = AfterValidator(multi_line_text)
#: A boolean that only a JSON boolean satisfies (``"yes"``, ``1`` and ``"true"`` are 422, not ``True``).
JsonBool = Annotated[bool, Strict()]

Title = Annotated[str, Field(min_length=1, max_length=200), OneLine]
OrderId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^,]+$"), OneLine]
LogisticsChannel = Annotated[str, Field(min_length=1, max_length=100), OneLine]
Comment = Annotated[str, Field(min_length=1, max_length=500), MultiLine]
CustomerName = Annotated[str, Field(min_length=1, max_length=100), OneLine]
# Deliberately loose (no e-mail-validator dependency): one @, no spaces, a dot in the domain, RFC 5321 length.
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), OneLine]
Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 ().-]{1,30}[0-9]$")]
