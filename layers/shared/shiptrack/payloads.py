"""What Lambda counts of a response, and the byte budget a page of trackings keeps to (docs/api.md, "List trackings").

Lambda refuses a result whose JSON, as the Python runtime serialises it, is over :data:`LAMBDA_RESPONSE_LIMIT` bytes
(API Gateway then answers 502). A proxy result carries the body as a JSON *string*, so what counts is the body
escaped: ``json.dumps`` with ``ensure_ascii`` doubles quotes and backslashes and writes every non-ASCII character as
``\\uXXXX`` — a checkpoint in Chinese takes six bytes per character. A page of stored trackings can be ten times the
limit (100 trackings of 100 checkpoints), so the listing routes fill a page only up to :data:`PAGE_BUDGET_BYTES`
(:func:`fitting`) and continue with a cursor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

__all__ = ["LAMBDA_RESPONSE_LIMIT", "PAGE_BUDGET_BYTES", "escaped_size", "fitting"]

#: Lambda's limit on a synchronous invocation's result (6 MB, as Lambda counts it).
LAMBDA_RESPONSE_LIMIT: Final = 6_291_556
#: The escaped bytes a page's items may take: the limit less room for the status, headers and the page's envelope
#: (``next_cursor`` is at most a few hundred bytes).
PAGE_BUDGET_BYTES: Final = 6_000_000


def escaped_size(json_text: str) -> int:
    """The bytes ``json_text`` takes inside the runtime's JSON of a Lambda result (escaped, without the quotes)."""
    return len(json.dumps(json_text)) - 2


def fitting(parts: Iterable[str], *, budget: int = PAGE_BUDGET_BYTES) -> int:
    """How many of ``parts`` (JSON texts joined by commas in one body) fit in ``budget`` escaped bytes: at least one,
    so a page always moves on (one tracking is at most a few hundred KB)."""
    used = 0
    count = 0
    for part in parts:
        used += escaped_size(part) + (1 if count else 0)
        if count and used > budget:
            return count
        count += 1
    return count
