"""Untrusted JSON bodies, read within bounds: a body that cannot be read safely is a 400 ``invalid_json``.

``json.loads`` alone is not fit for a public endpoint (docs/security.md, "Hostile bodies"):

* an array nested about 1000 deep (a 2 KB body) raises ``RecursionError`` — a 500, and every layer after the parser
  (validation, logging, the stored item) recurses over the same structure;
* ``NaN``, ``Infinity`` and ``1e999`` are accepted although they are not JSON, and no model wants them;
* a member name repeated in one object silently keeps the last value, so two readers of the same bytes (a proxy, a
  log viewer, us) can disagree about what was sent;
* ``"\\ud800"`` becomes a lone surrogate, which is not Unicode: the first ``encode()`` (the DynamoDB request, the
  response) raises.

:func:`loads_bounded` parses with the C parser (the 1 MB body limit of ``shiptrack.http`` has run already), refuses
all four, and walks the result once, iteratively, to bound its depth at :data:`MAX_DEPTH` — far beyond any request
we take (a TrackingMore push is 5 levels deep) and far below what any recursive code after us can meet.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from shiptrack.errors import InvalidJsonError

__all__ = ["MAX_DEPTH", "loads_bounded"]

#: Deepest nesting of arrays and objects a body may have (the top-level value is depth 1).
MAX_DEPTH: Final = 32

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(ValueError):
    """Raised from the parser's hooks; carries the sentence the problem shows."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        msg = "an object repeats a member name"
        raise _Refused(msg)
    return members


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        msg = "a number is too large to represent"
        raise _Refused(msg)
    return number


def _not_a_constant(name: str) -> Any:
    msg = f"{name} is not a JSON value"
    raise _Refused(msg)


def loads_bounded(raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``raw`` (UTF-8 when bytes), or :class:`~shiptrack.errors.InvalidJsonError` saying why not.

    Refused: text that is not JSON, nesting deeper than ``max_depth``, ``NaN``/``Infinity``, numbers beyond a float,
    integers longer than Python converts (4300 digits), repeated member names, and unpaired surrogates.
    """
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_not_a_constant)
    except _Refused as exc:
        raise InvalidJsonError(f"The body is not valid JSON: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(f"The body is not valid JSON (line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise InvalidJsonError(f"The body is not valid JSON: it is nested deeper than {max_depth} levels.") from None
    except UnicodeDecodeError:
        raise InvalidJsonError("The body is not valid JSON: it is not UTF-8 text.") from None
    except ValueError:  # an integer longer than int() converts (4300 digits)
        raise InvalidJsonError("The body is not valid JSON: a number is too long to read.") from None
    _check(value, max_depth)
    return value


def _check(value: Any, max_depth: int) -> None:
    """Depth and text of a parsed value, without recursion (the value may be as deep as the parser allowed)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            if _LONE_SURROGATE.search(node):
                raise InvalidJsonError("The body is not valid JSON: it contains an unpaired surrogate (not Unicode).")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise InvalidJsonError(f"The body is not valid JSON: it is nested deeper than {max_depth} levels.")
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children)
