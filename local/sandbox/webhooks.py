"""Signed v2 webhook pushes (reference §7.1), delivered on a background thread with retries.

Body: ``{"meta": {...200 Success...}, "data": <tracking object>, "verifyInfo": {"timeStr", "signature"}}`` where
``timeStr`` is the REAL unix time in seconds (as a string; receivers compare it with their own clock) and
``signature = hex(HMAC-SHA256(key=account e-mail, msg=timeStr))``. v2 documents no retry policy (§7.1); the sandbox
retries non-2xx answers and connection errors after each delay of ``retry_delays`` (a few short ones by default).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0)
DEFAULT_TIMEOUT_S = 2.0
MAX_RECORDED_DELIVERIES = 500


def sign(time_str: str, email: str) -> str:
    return hmac.new(email.encode(), time_str.encode(), hashlib.sha256).hexdigest()


def push_body(tracking: dict[str, Any], email: str, now: float | None = None) -> dict[str, Any]:
    time_str = str(int(time.time() if now is None else now))
    return {
        "meta": {"code": 200, "type": "Success", "message": "Success"},
        "data": tracking,
        "verifyInfo": {"timeStr": time_str, "signature": sign(time_str, email)},
    }


@dataclass
class Delivery:
    id: int
    url: str
    tracking: dict[str, Any]
    generation: int
    attempts: int = 0
    outcome: str = "pending"  # pending | succeeded | failed
    http_status: int | None = None
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "tracking_number": self.tracking.get("tracking_number"),
            "carrier_code": self.tracking.get("carrier_code"),
            "status": self.tracking.get("status"),
            "attempts": self.attempts,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "last_error": self.last_error,
            "history": list(self.history),
        }


class WebhookDispatcher:
    """One worker thread and a due-time heap: a retry waits its delay without holding up other deliveries."""

    def __init__(
        self, email: str, retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.email = email
        self.retry_delays = tuple(retry_delays)
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._deliveries: list[Delivery] = []
        self._counts = {"queued": 0, "attempts": 0, "succeeded": 0, "failed": 0}
        self._in_flight = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.5) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def reset(self) -> None:
        """Drop pending deliveries and counters (in-flight attempts of the old generation are not recorded)."""
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self._deliveries.clear()
            self._counts = dict.fromkeys(self._counts, 0)
            self._in_flight = 0
            self._cond.notify_all()

    # -- queueing -----------------------------------------------------------------------------------------
    def enqueue(self, url: str, tracking: dict[str, Any]) -> None:
        with self._cond:
            delivery = Delivery(next(self._ids), url, tracking, self._generation)
            self._deliveries.append(delivery)
            if len(self._deliveries) > MAX_RECORDED_DELIVERIES:
                del self._deliveries[0]
            self._counts["queued"] += 1
            heapq.heappush(self._heap, (time.monotonic(), delivery.id, delivery))
            self._cond.notify_all()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            pending = sum(1 for d in self._deliveries if d.outcome == "pending")
            return {
                **self._counts,
                "attempted": sum(1 for d in self._deliveries if d.attempts > 0),
                "pending": pending,
                "deliveries": [d.as_dict() for d in self._deliveries],
            }

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight (for tests); True when idle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    # -- worker -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if not self._heap:
                    self._cond.wait(0.5)
                    continue
                due, _, delivery = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 0.5))
                    continue
                heapq.heappop(self._heap)
                self._in_flight += 1
                email = self.email
            try:
                status, error = self._post(delivery, email)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._record(delivery, status, error)
                    self._cond.notify_all()

    def _post(self, delivery: Delivery, email: str) -> tuple[int | None, str | None]:
        body = json.dumps(push_body(delivery.tracking, email)).encode()
        request = urllib.request.Request(  # noqa: S310 — the URL is the configured receiver (http/https)
            delivery.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            return int(exc.code), f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        if delivery.generation != self._generation:
            return
        delivery.attempts += 1
        delivery.http_status = status
        delivery.last_error = error
        delivery.history.append({"attempt": delivery.attempts, "http_status": status, "error": error})
        self._counts["attempts"] += 1
        if status is not None and 200 <= status < 300:
            delivery.outcome = "succeeded"
            self._counts["succeeded"] += 1
            return
        if delivery.attempts > len(self.retry_delays) or self._stop.is_set():
            delivery.outcome = "failed"
            self._counts["failed"] += 1
            return
        due = time.monotonic() + self.retry_delays[delivery.attempts - 1]
        heapq.heappush(self._heap, (due, delivery.id, delivery))
