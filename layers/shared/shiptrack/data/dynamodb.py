"""What every repository needs from DynamoDB: conditional writes as outcomes, bounded batch reads, key limits.

Seams are typed with ``mypy_boto3_dynamodb``; its names are imported for the type checker only, so a cold start
never loads the stubs (or boto3) for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from shiptrack.errors import StorageBusyError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = [
    "BATCH_GET_KEYS",
    "MAX_BATCH_GET_ATTEMPTS",
    "MAX_KEY_BYTES",
    "Item",
    "batch_get",
    "cancellation_reasons",
    "conditional",
    "is_condition_failure",
    "storable",
]

#: A DynamoDB item as boto3's Table resource gives and takes it (plain Python values, numbers as ``Decimal``).
Item = dict[str, Any]

#: DynamoDB refuses any request whose partition key is longer than this (a ValidationException, reads included).
MAX_KEY_BYTES: Final = 2048
#: BatchGetItem takes at most 100 keys per call.
BATCH_GET_KEYS: Final = 100
#: Calls per 100 keys before unprocessed keys (throttling) give up with :class:`StorageBusyError` (503, retryable):
#: the backoff between them adds up to 2.5 s, well inside a request's 29 s, and a table throttled for longer
#: is better answered "retry later" than waited on.
MAX_BATCH_GET_ATTEMPTS: Final = 6
_BACKOFF_BASE_SECONDS: Final = 0.05
_BACKOFF_CAP_SECONDS: Final = 1.0


def is_condition_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is DynamoDB refusing a write because its ``ConditionExpression`` did not hold."""
    response = getattr(exc, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def conditional(write: Callable[[], object]) -> bool:
    """Run one conditional write: ``True`` when it was applied, ``False`` when its condition did not hold.

    Every other failure propagates. This is how a repository turns ``ConditionalCheckFailedException`` into a
    domain outcome (a lost race, an identity already claimed …) instead of letting it escape.
    """
    from botocore.exceptions import ClientError

    try:
        write()
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def cancellation_reasons(exc: BaseException) -> list[str | None] | None:
    """The per-item reason codes of a cancelled ``TransactWriteItems`` (``ConditionalCheckFailed`` …), in item
    order; ``None`` when ``exc`` is not a transaction cancellation."""
    response = getattr(exc, "response", None) or {}
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [reason.get("Code") for reason in response.get("CancellationReasons", [])]


def storable(key: str) -> bool:
    """Whether DynamoDB can hold (and so be asked about) a partition key: reads of longer keys fail too."""
    return len(key.encode()) <= MAX_KEY_BYTES


def batch_get(
    table: Table,
    keys: Sequence[Mapping[str, Any]],
    *,
    consistent: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = MAX_BATCH_GET_ATTEMPTS,
    attributes: Sequence[str] = (),
) -> Iterator[Item]:
    """The items of ``table`` at ``keys`` (BatchGetItem, 100 keys a call; strongly consistent unless told).

    Unprocessed keys are asked again with a capped exponential backoff, at most ``max_attempts`` calls per 100
    keys; then :class:`~shiptrack.errors.StorageBusyError` (503, retryable) is raised — after every item read so
    far was yielded, so a caller that can live with a partial answer (a cache) keeps it. ``attributes``: only
    these (top-level) attributes of each item.
    """
    # The Table's own client (de)serialises plain Python values (boto3's resource transformation hooks).
    client = table.meta.client
    projection: dict[str, Any] = {}
    if attributes:
        names = {f"#a{number}": name for number, name in enumerate(attributes)}
        projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table.name: {
                "Keys": list(keys[start : start + BATCH_GET_KEYS]),
                "ConsistentRead": consistent,
                **projection,
            }
        }
        for attempt in range(1, max_attempts + 1):
            response = client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(table.name, [])
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
            if attempt < max_attempts:
                sleep(min(_BACKOFF_BASE_SECONDS * 2**attempt, _BACKOFF_CAP_SECONDS))
        else:
            raise StorageBusyError(f"DynamoDB left keys of {table.name} unprocessed after {max_attempts} attempts.")
