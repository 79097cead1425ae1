"""Logger, Metrics and Tracer for every function, set up so a cold start pays only for what is used.

- ``logger``: Powertools Logger with a filter that masks e-mail addresses and phone numbers, so customer
  contact data never reaches CloudWatch even if a message or an ``extra`` carries it.
- ``metrics``: Powertools Metrics (EMF), namespace from ``POWERTOOLS_METRICS_NAMESPACE``.
- ``trace_handler`` / ``trace_method``: Powertools Tracer decorators when ``SHIPTRACK_TRACING`` is true, and
  plain pass-throughs otherwise. Constructing ``Tracer()`` imports aws_xray_sdk (~200 ms) even with
  tracing disabled, so it is only constructed when tracing is on.
- ``record_upstream_call`` / ``counted_call``: the ``UpstreamCalls`` (and ``UpstreamItems``) metrics, by endpoint
  and outcome, one vocabulary for every caller of TrackingMore.
- ``count``: a count metric, safe to add from several threads (Powertools' metric set is not).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

__all__ = [
    "count",
    "counted_call",
    "logger",
    "metrics",
    "record_upstream_call",
    "redact",
    "trace_handler",
    "trace_method",
    "tracing_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number written for people: digit groups separated by spaces, dots or dashes, optionally with a
# leading + or an area code in brackets. Bare digit runs are left alone on purpose: most tracking numbers
# are bare digit runs (FedEx 12, DHL 10, USPS 22 digits) and logs need them; contact fields are masked by key.
_PHONE = re.compile(
    r"(?<![\w-])(?!\d{4}-\d{2}-\d{2})\+?\(?\d{1,4}\)?[\s.-]\d{2,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?![\w-])"
)
_SENSITIVE_KEYS = frozenset({"customer_email", "customer_phone", "email", "phone", "api_key", "account_email"})
REDACTED = "***"


def redact(value: Any) -> Any:
    """``value`` with e-mail addresses and phone numbers masked, recursing into dicts and lists."""
    if isinstance(value, str):
        return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, value))
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in _SENSITIVE_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class _RedactingFilter(logging.Filter):
    """Masks contact data in the message, its args and any ``extra`` fields before the record is formatted."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(arg) for arg in record.args) if isinstance(record.args, tuple) else record.args
        for key, value in list(record.__dict__.items()):
            if key in self._STANDARD:
                continue
            record.__dict__[key] = REDACTED if key.lower() in _SENSITIVE_KEYS else redact(value)
        return True


logger = Logger()
# On the logger, not its handlers: every record we log passes once, whichever handler (tests add their own) writes it.
logger.addFilter(_RedactingFilter())

metrics = Metrics()


def tracing_enabled() -> bool:
    """``SHIPTRACK_TRACING``, read as the settings read it (the settings object is not needed to decide this)."""
    from shiptrack.settings import env_bool

    return env_bool("SHIPTRACK_TRACING", False)


@cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer()


def trace_handler(func: F) -> F:
    """``Tracer.capture_lambda_handler`` when tracing is on; otherwise ``func`` unchanged (no X-Ray import)."""
    if not tracing_enabled():
        return func
    decorated: F = _tracer().capture_lambda_handler(func)
    return decorated


def trace_method(func: F) -> F:
    """``Tracer.capture_method`` when tracing is on; otherwise ``func`` unchanged."""
    if not tracing_enabled():
        return func
    decorated: F = _tracer().capture_method(func)
    return decorated


_metrics_lock = threading.Lock()


def count(name: str, value: float = 1) -> None:
    """Add ``value`` to the count metric ``name`` of this invocation. Safe from several threads (the create pipeline
    works chunks side by side): Powertools' metric set is a plain dict it may flush while another thread adds."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_upstream_call(endpoint: str, outcome: str, *, calls: int = 1, items: int | None = None) -> None:
    """Metrics ``UpstreamCalls`` (``calls``) and, when given, ``UpstreamItems`` (``items``), by ``endpoint`` and
    ``outcome`` (``errors.upstream_outcome``, or ``partial`` for a batch with failed items): one small dimension set.
    """
    for name, value in (("UpstreamCalls", calls), ("UpstreamItems", items)):
        if value is None:
            continue
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=metrics.namespace,
            default_dimensions={"service": metrics.service or "shiptrack"},
        ) as metric:
            metric.add_dimension(name="endpoint", value=endpoint)
            metric.add_dimension(name="outcome", value=outcome)


def counted_call(endpoint: str, call: Callable[[], T], *, items: int | None = None) -> T:
    """``call()`` (one call to TrackingMore), counted by ``endpoint`` and how it ended; its errors propagate."""
    from shiptrack.errors import upstream_outcome

    try:
        result = call()
    except Exception as exc:
        record_upstream_call(endpoint, upstream_outcome(exc), items=items)
        raise
    record_upstream_call(endpoint, "ok", items=items)
    return result
