"""``Idempotency-Key`` for ``POST /trackings``: Powertools Idempotency on the IdempotencyTable.

Same key + same (normalised) body within 24 h → the first response is replayed, status included. Same key +
another body → 422 ``idempotency_key_reused``. Same key while the first request still runs → the request waits
for the first one's answer and replays it, as a create without a key waits for a concurrent identical create
(``services.create.CLAIM_WAIT_SECONDS``); only when the first one runs longer than the wait (or the request's
deadline) allows is it a 409 ``request_in_progress`` (retryable, with ``Retry-After``). A request that failed is not
recorded, so retrying it runs again.

The persistence layer is built on first use (never at import: it would read settings and create a boto3 client
during the cold start of every route), and the decorator is applied per call for the same reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from shiptrack.errors import IdempotencyKeyReusedError, RequestInProgressError

if TYPE_CHECKING:
    from shiptrack.deadline import Deadline

__all__ = ["IDEMPOTENCY_TTL_SECONDS", "CreateResponse", "run_idempotent"]

IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600
#: How long a request waits for a running request with its Idempotency-Key before answering 409 (retryable).
IN_PROGRESS_WAIT_SECONDS: Final = 20.0
#: Lambda time kept back when waiting without a request deadline, to answer the 409 before the function times out.
IN_PROGRESS_RESERVE_SECONDS: Final = 2.0


class CreateResponse(BaseModel):
    """What a create answered: replayed as is (status and body) for the same ``Idempotency-Key``."""

    status_code: int
    body: dict[str, Any]


@cache
def _persistence(table_name: str) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name)


def run_idempotent(
    key: str,
    body: dict[str, Any],
    handler: Callable[[], CreateResponse],
    *,
    lambda_context: Any = None,
    persistence_store: Any = None,
    deadline: Deadline | None = None,
    wait_seconds: float = IN_PROGRESS_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CreateResponse:
    """Run ``handler`` once per ``key``; replay its :class:`CreateResponse` for the same ``key`` and ``body``.

    While another request with ``key`` is still running, wait (polling with backoff) up to ``wait_seconds`` —
    never past the request's ``deadline`` (without one: the Lambda's remaining time less a reserve) — for its
    answer, then replay it.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    from shiptrack.settings import get_settings

    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    def create_tracking_once(request: dict[str, Any]) -> CreateResponse:
        return handler()

    # Powertools reads the return annotation to pick the model; with postponed annotations it is a string.
    create_tracking_once.__annotations__["return"] = CreateResponse
    idempotent = idempotent_function(
        data_keyword_argument="request",
        persistence_store=persistence_store or _persistence(get_settings().idempotency_table),
        config=config,
        output_serializer=PydanticSerializer,
    )(create_tracking_once)
    if deadline is not None:
        wait_seconds = max(0.0, min(wait_seconds, deadline.seconds_left()))
    elif lambda_context is not None:
        remaining = lambda_context.get_remaining_time_in_millis() / 1000 - IN_PROGRESS_RESERVE_SECONDS
        wait_seconds = max(0.0, min(wait_seconds, remaining))
    give_up_at = clock() + wait_seconds
    delay = 0.05
    while True:
        try:
            result: CreateResponse = idempotent(request={"key": key, "body": body})
        except IdempotencyValidationError as exc:
            raise IdempotencyKeyReusedError(
                "This Idempotency-Key was used with a different request body; use a new key for a new request."
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            # The first request with this key is still running: its answer is ours too once it is recorded
            # (or, if it fails, its record goes and this request runs itself).
            if clock() + delay > give_up_at:
                raise RequestInProgressError(
                    "A request with this Idempotency-Key is still running; retry shortly."
                ) from exc
            sleep(delay)
            delay = min(delay * 1.5, 0.5)
            continue
        return result
