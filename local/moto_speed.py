"""moto 5.2.5's per-request costs that AWS does not have, removed so the local stack is slow only where AWS is.

Profiled during an import through the local stack (docs/benchmarks.md, "Imports"), moto's server process was the
bound, and most of its time was spent on work that does not grow on AWS:

* **Finding the service of each request.** ``DomainDispatcherApplication.get_backend_for_host`` lists moto's
  package directory (a ``stat`` per service) and tries every service's URL pattern, under one lock that every request
  of the threaded server takes. The answer depends only on the host, so it is remembered per host.
* **Event input paths.** Every event sent to a target compiles its input paths with ``jsonpath_ng`` again (a parser
  generator run per event and target); the compiled paths are immutable, so each is compiled once.
* **Queue counters nobody asked for.** ``SendMessage`` reads the queue's whole attribute set for one flag, and
  ``ReceiveMessage`` reads the retention period once per message it returns, through ``GetQueueAttributes``, which
  builds the whole set too. That set includes the approximate message counts, each a scan of every message in the
  queue, so a queue with a backlog (an import's chunks, the local event tap nobody drains) made every send and
  receive slower than the last. The counters are now computed only when they are asked for.
* **Transactions copying whole tables.** ``TransactWriteItems`` deep-copies every table it touches (items and
  stream records) to be able to roll back, so a transaction cost grew with the table: an import's chunk completions
  (two items each) grew quadratic in the import's size. Here a transaction checks every condition first, then
  writes; the writes are serialised (``local.moto_patches``), so nothing can change in between, exactly as
  DynamoDB's own all-or-nothing. Should a write still fail (an update expression that does not apply to the item),
  the items written before it are put back as they were (that put-back shows in the table's stream, the one
  difference from DynamoDB, on a path our code never takes).

Behaviour is unchanged: each patch returns what moto would have returned, faster (tests/unit/test_moto_speed.py).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["apply"]

_uncounted = threading.local()  # moto's server answers each request on a thread of its own
_COUNTERS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def apply() -> None:
    """Patch moto in this process (call once, from ``local.moto_patches.apply``, before it serialises writes)."""
    _remember_backend_per_host()
    _compile_event_input_paths_once()
    _count_messages_only_when_asked()
    _transactions_without_table_copies()


def _remember_backend_per_host() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _compile_event_input_paths_once() -> None:
    import jsonpath_ng.ext

    # moto imports ``parse`` from the module at each call (moto/events/utils.py), so the module's name is the seam.
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)  # type: ignore[attr-defined]


def _count_messages_only_when_asked() -> None:
    from moto.sqs.models import Queue, SQSBackend

    for name in _COUNTERS:
        counted = getattr(Queue, name)

        def counter(self: Any, __counted: Any = counted) -> int:
            if getattr(_uncounted, "active", False):
                return 0
            return int(__counted.fget(self))

        setattr(Queue, name, property(counter))

    send, read = SQSBackend.send_message, SQSBackend.get_queue_attributes

    @functools.wraps(send)
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _counters_unused():
            return send(self, *args, **kwargs)

    @functools.wraps(read)
    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        if "All" in attribute_names or any(name.startswith("ApproximateNumberOf") for name in attribute_names):
            return read(self, queue_name, attribute_names)
        with _counters_unused():
            return read(self, queue_name, attribute_names)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


@contextlib.contextmanager
def _counters_unused() -> Iterator[None]:
    _uncounted.active = True
    try:
        yield
    finally:
        _uncounted.active = False


def _transactions_without_table_copies() -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        writes = [_planned(self, entry, TransactWriteSingleOpException) for entry in transact_items]
        keys = [(table, repr(sorted(key.items()))) for _kind, _op, table, key in writes]
        if len(set(keys)) < len(keys):
            raise MultipleTransactionsException()
        reasons: list[tuple[str | None, str | None, Any]] = []
        for _kind, op, table, key in writes:
            current = self.get_item(table, key)
            condition = op.get("ConditionExpression")
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if condition is None or get_filter_expression(condition, names, values).expr(current):
                reasons.append((None, None, None))
                continue
            wanted = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            old = current.to_json()["Attributes"] if current and wanted else None
            reasons.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
        if any(code for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        before = [(table, key, copy.deepcopy(self.get_item(table, key))) for _kind, _op, table, key in writes]
        for done, (kind, op, table, key) in enumerate(writes):
            try:
                _write(self, kind, op, table, key)
            except MockValidationException:
                _put_back(self, before[:done])
                raise
            except Exception as error:  # moto reports any other failure as the transaction's cancellation reason
                _put_back(self, before[:done])
                failed: list[tuple[str | None, str | None, Any]] = [(None, None, None)] * len(writes)
                failed[done] = (type(error).__name__, str(error), None)
                raise TransactionCanceledException(failed) from error

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _planned(backend: Any, entry: dict[str, Any], single_op_error: type[Exception]) -> tuple[str, Any, str, Any]:
    """``(kind, operation, table name, key)`` of one transaction entry."""
    if len(entry) > 1:
        raise single_op_error()
    kind, op = next(iter(entry.items()))
    if kind not in {"ConditionCheck", "Put", "Delete", "Update"}:
        raise ValueError("Unsupported transaction operation")
    if kind != "Put":
        return kind, op, op["TableName"], op["Key"]
    table = backend.get_table(op["TableName"])
    key = {name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name is not None}
    return kind, op, op["TableName"], key


def _write(backend: Any, kind: str, op: dict[str, Any], table: str, key: Any) -> None:
    expression = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if kind == "Put":
        backend.put_item(table, op["Item"], **expression)
    elif kind == "Delete":
        backend.delete_item(table, key, **expression)
    elif kind == "Update":
        backend.update_item(table, key, update_expression=op["UpdateExpression"], **expression)


def _put_back(backend: Any, items: list[tuple[str, Any, Any]]) -> None:
    """Each ``(table, key, item as it was)``, the item as it was again (``None``: absent)."""
    for table, key, item in reversed(items):
        if item is None:
            backend.delete_item(table, key)
        else:
            backend.put_item(table, item.to_json()["Attributes"])
