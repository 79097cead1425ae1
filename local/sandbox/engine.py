"""The sandbox's state and the 18 v2 endpoints (reference §2–§3), independent of HTTP.

One lock guards all state. Two clocks: the *simulated* clock (starts at real "now", moves only forward through
``advance``) drives carrier events and the realtime 2-hour rule; the *real* clock stamps TrackingMore's own
``created_at`` / ``updated_at`` (clients filter those against their real clock) and webhook ``timeStr``; the
per-second rate limits use the monotonic clock.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from local.sandbox import aircargo, costtime, remote
from local.sandbox.carriers import (
    CARRIER_CODE_RE,
    CARRIERS,
    MAX_TRACKING_NUMBER_LENGTH,
    TRACKING_NUMBER_RE,
    detect,
    get_carrier,
)
from local.sandbox.envelope import ApiError, envelope, error_envelope
from local.sandbox.faults import DEFAULT_TIMEOUT_S, FaultConfig, FaultInjector, parse_fault_config
from local.sandbox.latency import LatencyModel, LatencySettings, items_in
from local.sandbox.limits import (
    BATCH_MAX,
    LIST_LIMIT_MAX,
    MANY_MAX,
    NUMBERS_MAX,
    REALTIME_PENALTY_S,
    REALTIME_SAME_NUMBER_HOURS,
    AccountLimits,
)
from local.sandbox.records import CREATE_FIELDS, EDITABLE_FIELDS, TrackingRecord, identity
from local.sandbox.simulation import make_plan, snapshot
from local.sandbox.webhooks import DEFAULT_RETRY_DELAYS, WebhookDispatcher
from local.sandbox.webhooks import DEFAULT_TIMEOUT_S as WEBHOOK_TIMEOUT_S

DEFAULT_PORT = 4010
DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_EMAIL = "sandbox@example.com"
DEFAULT_QUOTA = 10000.0
API_KEY_HEADER = "trackingmore-api-key"

# Quota costs in fifths of a quota unit, so 0.2 adds up exactly (reference §8).
COST_CREATE = 5  # 1 per new number
COST_DETECT = 1  # 0.2 per call
COST_REMOTE = 1  # 0.2 per call
COST_AWB = 100  # 20 per air waybill
STATUS_INPUT = {"4": "delivered", "7": "exception", "8": None}  # PUT status values (reference §3.5, §5.1)
# Success messages the documented examples print (seed 001 for aircargo, seed 003 for remote).
SUCCESS_MESSAGES = {"/trackings/aircargo": "Request Success", "/trackings/remote": "The request was successful."}
STATUSES = ("pending", "notfound", "transit", "pickup", "delivered", "undelivered", "exception", "expired")


@dataclass
class SandboxConfig:
    seed: int = 7
    api_key: str = DEFAULT_API_KEY
    email: str = DEFAULT_EMAIL
    webhook_url: str | None = None
    quota: float = DEFAULT_QUOTA
    enforce_rate_limits: bool = True  # per-second windows (list 1/s, realtime 3/s)
    enforce_realtime_interval: bool = True  # same number once per 2 simulated hours
    realtime_penalty_s: float = REALTIME_PENALTY_S  # realtime pause after exceeding 3/s (with enforce_rate_limits)
    batch_create_limit: int | None = None  # POST /trackings/batch calls per window; None: no limit (undocumented)
    batch_create_window_s: float = 1.0
    latency: LatencySettings = field(default_factory=LatencySettings)
    fault_timeout_s: float = DEFAULT_TIMEOUT_S
    webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    sim_start: datetime | None = None  # fixed simulated start (default: real now at start/reset)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["webhook_retry_delays"] = list(self.webhook_retry_delays)
        data["sim_start"] = self.sim_start.isoformat() if self.sim_start else None
        data["latency"] = self.latency.as_dict()
        return data


@dataclass
class Outcome:
    """What the HTTP layer must do: send ``body`` with ``http_status``, or act out a fault."""

    http_status: int = 200
    body: bytes = b""
    fault: str | None = None  # "timeout" | "connection_reset" (the HTTP layer acts them out)
    latency_s: float = 0.0
    fault_timeout_s: float = 0.0


@dataclass
class Request:
    method: str
    template: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    _json: Any = field(default=None, repr=False)
    _parsed: bool = False

    def json(self) -> Any:
        """The JSON body; a body that is not JSON is answered 4015 (FAQ, reference §4.1)."""
        if not self._parsed:
            try:
                self._json = json.loads(self.raw_body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise ApiError(4015, "The request body is not valid JSON.") from exc
            self._parsed = True
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ApiError(4012, "The request body must be a JSON object.")
        return body

    def json_array(self) -> list[Any]:
        body = self.json()
        if not isinstance(body, list):
            raise ApiError(4012, "The request body must be a JSON array.")
        if not body:
            raise ApiError(4012, "The request body must not be an empty array.")
        return body

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Handler = Callable[["SandboxEngine", Request], tuple[int, Any]]
_SEGMENT = r"([^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    params: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _unit(fifths: int) -> float | int:
    return fifths // 5 if fifths % 5 == 0 else round(fifths / 5, 1)


class SandboxEngine:
    def __init__(self, config: SandboxConfig, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._initial = replace(config)
        self.config = replace(config)
        self.monotonic = monotonic  # the per-second rate limits' clock
        self.lock = threading.RLock()
        self.regtime = int(time.time())
        self.webhooks = WebhookDispatcher(config.email, config.webhook_retry_delays, config.webhook_timeout_s)
        self.faults = FaultInjector(config.seed)
        self._reset_state()

    # ---------------------------------------------------------------------------------------------------------
    # state
    def _reset_state(self) -> None:
        self.sim_start = self.config.sim_start or datetime.now(UTC).replace(microsecond=0)
        self.sim_now = self.sim_start
        self.records: dict[tuple[str, str], TrackingRecord] = {}
        self.charged: set[tuple[str, str]] = set()
        self.created_count: Counter[tuple[str, str]] = Counter()
        self.seq = 0
        self.quota_limit_fifths = round(self.config.quota * 5)
        self.quota_used_fifths = 0
        self.calls: Counter[str] = Counter()
        self.meta_codes: Counter[str] = Counter()
        self.rate_limited = 0
        self.fault_counts: Counter[str] = Counter()
        self.limits = AccountLimits(self.monotonic)
        self.latency = LatencyModel(self.config.latency, self.config.seed)
        self.realtime_last: dict[tuple[str, str], datetime] = {}
        self.awb_anchors: dict[str, datetime] = {}
        self.faults.configure(FaultConfig(timeout_s=self.config.fault_timeout_s), self.config.seed)
        self.webhooks.email = self.config.email
        self.webhooks.retry_delays = tuple(self.config.webhook_retry_delays)
        self.webhooks.timeout_s = self.config.webhook_timeout_s

    def reset(self, seed: int | None = None, *, restore_config: bool = False) -> dict[str, Any]:
        """A clean slate: no trackings, no stats, quota unused, faults off, simulated clock back to its start.

        The configuration (API key, e-mail, webhook URL, quota limit, rate-limit switches) is kept, unless
        ``restore_config`` puts back the one the sandbox started with. ``seed`` replaces the seed.
        """
        with self.lock:
            if restore_config:
                self.config = replace(self._initial)
            if seed is not None:
                self.config.seed = int(seed)
            self.webhooks.reset()
            self._reset_state()
            return {"seed": self.config.seed, "sim_time": self.sim_now.isoformat()}

    def configure(self, **changes: Any) -> dict[str, Any]:
        allowed = {
            "webhook_url",
            "email",
            "api_key",
            "quota",
            "enforce_rate_limits",
            "enforce_realtime_interval",
            "realtime_penalty_s",
            "batch_create_limit",
            "batch_create_window_s",
            "fault_timeout_s",
            "webhook_retry_delays",
            "webhook_timeout_s",
        }
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; allowed: {sorted(allowed)}")
        with self.lock:
            for name, value in changes.items():
                if name == "quota":
                    if float(value) < 0:
                        raise ValueError("quota must not be negative")
                    self.config.quota = float(value)
                    self.quota_limit_fifths = round(float(value) * 5)
                elif name in {"enforce_rate_limits", "enforce_realtime_interval"}:
                    setattr(self.config, name, bool(value))
                elif name in {"fault_timeout_s", "webhook_timeout_s", "realtime_penalty_s", "batch_create_window_s"}:
                    if float(value) < 0 or (name == "batch_create_window_s" and float(value) == 0):
                        raise ValueError(f"{name} must be positive")
                    setattr(self.config, name, float(value))
                elif name == "batch_create_limit":
                    if value is not None and int(value) < 1:
                        raise ValueError("batch_create_limit must be at least 1 (or null for no limit)")
                    self.config.batch_create_limit = None if value is None else int(value)
                elif name == "webhook_retry_delays":
                    self.config.webhook_retry_delays = tuple(float(v) for v in value)
                elif name == "webhook_url":
                    if value and not str(value).startswith(("http://", "https://")):
                        raise ValueError("webhook_url must be an http:// or https:// URL")
                    self.config.webhook_url = str(value) if value else None
                else:
                    setattr(self.config, name, str(value))
            self.webhooks.email = self.config.email
            self.webhooks.retry_delays = tuple(self.config.webhook_retry_delays)
            self.webhooks.timeout_s = self.config.webhook_timeout_s
            if "fault_timeout_s" in changes:
                self.faults.config.timeout_s = self.config.fault_timeout_s
            return self.config.public()

    def set_latency(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the latency settings (``{"profile", "scale", "overrides"}``; what is left out takes its default)."""
        settings = LatencySettings.from_body(body, endpoint_keys())
        with self.lock:
            self.config.latency = settings
            self.latency = LatencyModel(settings, self.config.seed)
            return self.latency_settings()

    def latency_settings(self) -> dict[str, Any]:
        with self.lock:
            return self.config.latency.as_dict(endpoint_keys())

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            config = parse_fault_config(body, self.config.fault_timeout_s)
            self.faults.configure(config, self.config.seed)
            return config.as_dict()

    # -- quota ----------------------------------------------------------------------------------------------
    @property
    def quota_remaining_fifths(self) -> int:
        return max(0, self.quota_limit_fifths - self.quota_used_fifths)

    def charge(self, fifths: int) -> None:
        if self.quota_remaining_fifths < fifths:
            raise ApiError(4021)
        self.quota_used_fifths += fifths

    # -- simulated time -------------------------------------------------------------------------------------
    def advance(self, hours: float) -> dict[str, Any]:
        """Move simulated time forward, refresh every tracking that is still updated, queue webhooks."""
        if hours < 0:
            raise ValueError("hours must not be negative (simulated time only moves forward)")
        with self.lock:
            self.sim_now += timedelta(hours=hours)
            changed = []
            for record in self._ordered_records():
                if not record.track_update:
                    continue
                before = (record.status, record.substatus, len(record.snapshot.events) if record.snapshot else -1)
                if self._refresh(record):
                    changed.append(
                        {
                            "tracking_number": record.tracking_number,
                            "carrier_code": record.carrier_code,
                            "from": before[0],
                            "to": record.status,
                            "substatus": record.substatus,
                            "events_added": len(record.snapshot.events if record.snapshot else []) - max(before[2], 0),
                        }
                    )
                    self._push(record)
            return {
                "sim_time": self.sim_now.isoformat(),
                "hours": hours,
                "changed": changed,
                "webhooks_queued": len(changed) if self.config.webhook_url else 0,
            }

    def _refresh(self, record: TrackingRecord) -> bool:
        """Recompute the carrier's view at the simulated now; True (and updated_at bumped) when it changed."""
        new = snapshot(record.plan, record.created_sim, self.sim_now)
        old = record.snapshot
        record.snapshot = new
        if old is None or old.key() != new.key():
            record.updated_ts = time.time()
            return True
        return False

    def _push(self, record: TrackingRecord) -> None:
        if self.config.webhook_url:
            self.webhooks.enqueue(self.config.webhook_url, record.full_shape(self.sim_now))

    # -- records --------------------------------------------------------------------------------------------
    def _ordered_records(self) -> list[TrackingRecord]:
        return sorted(self.records.values(), key=lambda r: r.seq)

    def _new_record(self, carrier_code: str, number: str, body: dict[str, Any]) -> TrackingRecord:
        key = identity(carrier_code, number)
        self.created_count[key] += 1
        self.seq += 1
        digest = hashlib.md5(  # noqa: S324 — an id, not security
            f"{self.config.seed}|{key[0]}|{key[1]}|{self.created_count[key]}".encode()
        ).hexdigest()
        fields = {name: body[name] for name in CREATE_FIELDS if name in body}
        if "order" in body and "order_id" not in fields:  # realtime names it `order` (reference §3.9)
            fields["order_id"] = body["order"]
        hint = (
            fields.get("destination_code")
            or fields.get("specialNumberDestination")
            or fields.get("tracking_destination_country")
        )
        now = time.time()
        carrier = CARRIERS[key[0]]
        record = TrackingRecord(
            id=digest,
            carrier_code=carrier.code,
            tracking_number=number.strip(),
            created_ts=now,
            updated_ts=now,
            created_sim=self.sim_now,
            seq=self.seq,
            plan=make_plan(self.config.seed, carrier, number.strip(), hint if isinstance(hint, str) else None),
            fields={k: v for k, v in fields.items() if v is not None},
        )
        self.records[key] = record
        return record

    def find(self, carrier_code: str, number: str) -> TrackingRecord | None:
        return self.records.get(identity(carrier_code, number))

    def trackings(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.full_shape(self.sim_now) for r in self._ordered_records()]

    # -- stats ----------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "total_calls": sum(self.calls.values()),
                "meta_codes": dict(sorted(self.meta_codes.items())),
                "quota": {
                    "limit": _unit(self.quota_limit_fifths),
                    "used": _unit(self.quota_used_fifths),
                    "remaining": _unit(self.quota_remaining_fifths),
                },
                "rate_limited": self.rate_limited,
                "rate_limit_pauses": self.limits.pauses(),
                "latency": self.latency.stats(),
                "faults_injected": sum(self.fault_counts.values()),
                "faults": dict(sorted(self.fault_counts.items())),
                "fault_config": self.faults.config.as_dict(),
                "webhooks": self.webhooks.stats(),
                "trackings": len(self.records),
                "seed": self.config.seed,
                "sim_time": self.sim_now.isoformat(),
                "sim_start": self.sim_start.isoformat(),
            }

    # ---------------------------------------------------------------------------------------------------------
    # /v2 dispatch
    def handle(self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes) -> Outcome:
        route, params, allowed = _match(method, path)
        if route is None:
            code = 405 if allowed else 404
            return self._reply(200, error_envelope(ApiError(code)))  # HTTP 200, outcome in meta (§1)
        key = route.key
        query = parse_qs(query_string, keep_blank_values=True)
        items = items_in(body) if self.latency.wants_items(key) else 1
        with self.lock:
            self.calls[key] += 1
            latency, fault = self.faults.decide(key)
            latency += self.latency.sample(key, items)
            if fault:
                self.fault_counts[fault] += 1
            timeout_s = self.faults.config.timeout_s
        if fault is not None:
            return _fault_outcome(fault, latency, timeout_s)
        request = Request(method, route.template, params, query, {k.lower(): v for k, v in headers.items()}, body)
        try:
            with self.lock:
                if request.headers.get(API_KEY_HEADER) != self.config.api_key:
                    raise ApiError(4001)
                code, data = route.handler(self, request)
                result = envelope(code, data, SUCCESS_MESSAGES.get(route.template) if code == 200 else None)
                if route.template == "/carriers":
                    result = {"meta": {"code": 200}, "data": data}  # carriers meta holds only the code (§3.17)
        except ApiError as error:
            if error.code == 429:
                with self.lock:
                    self.rate_limited += 1
            result = error_envelope(error)
        outcome = self._reply(200, result)
        outcome.latency_s = latency
        return outcome

    def _reply(self, http_status: int, body: dict[str, Any]) -> Outcome:
        with self.lock:
            self.meta_codes[str(body["meta"]["code"])] += 1
        return Outcome(http_status, json.dumps(body, ensure_ascii=False).encode("utf-8"))

    # -- shared validation ---------------------------------------------------------------------------------
    def check_list_rate(self) -> None:
        if self.config.enforce_rate_limits and not self.limits.allow_list():
            raise ApiError(429)

    def check_realtime_rate(self) -> None:
        if self.config.enforce_rate_limits and not self.limits.allow_realtime(self.config.realtime_penalty_s):
            raise ApiError(429)

    def check_batch_rate(self) -> None:
        if not self.limits.allow_batch(self.config.batch_create_limit, self.config.batch_create_window_s):
            raise ApiError(429)

    def now_iso(self) -> str:
        return self.sim_now.isoformat()


def _fault_outcome(kind: str, latency: float, timeout_s: float) -> Outcome:
    if kind == "http_500":
        body = json.dumps(error_envelope(ApiError(500))).encode()
        return Outcome(500, body, latency_s=latency)
    if kind == "http_503":
        body = json.dumps(error_envelope(ApiError(503))).encode()
        return Outcome(503, body, latency_s=latency)
    if kind == "meta_429":
        return Outcome(200, json.dumps(error_envelope(ApiError(429))).encode(), latency_s=latency)
    if kind == "malformed_json":
        return Outcome(
            200, b'{"meta":{"code":200,"type":"Success","message":"Success"},"data":{"id":"9eee8f3e', latency_s=latency
        )
    return Outcome(fault=kind, latency_s=latency, fault_timeout_s=timeout_s)


# =============================================================================================================
# validation helpers


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def valid_number(number: str) -> bool:
    return bool(TRACKING_NUMBER_RE.match(number)) and len(number) <= MAX_TRACKING_NUMBER_LENGTH


def require_number(body: dict[str, Any]) -> str:
    if "tracking_number" not in body or body.get("tracking_number") in (None, ""):
        raise ApiError(4013)
    number = _text(body, "tracking_number")
    if number is None or not valid_number(number):
        raise ApiError(4014)
    return number


def require_carrier(value: Any, *, missing: int = 4012) -> str:
    if value is None or value == "":
        raise ApiError(missing, "carrier_code is required.")
    if not isinstance(value, str) or not CARRIER_CODE_RE.match(value.strip()):
        raise ApiError(4015)
    carrier = get_carrier(value.strip())
    if carrier is None:
        raise ApiError(4015)
    return carrier.code


def _int_param(value: str | None, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError as exc:
            raise ApiError(4012, f"{name} must be an integer.") from exc


# =============================================================================================================
# handlers (reference §3)


def h_carriers(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    return 200, [c.as_list_item() for c in CARRIERS.values()]


def h_detect(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    body = req.json_object()
    number = require_number(body)
    engine.charge(COST_DETECT)  # 0.2 per call (reference §2, §8)
    found = detect(number)
    if not found:
        raise ApiError(4032)
    return 200, [{"name": c.name, "code": c.code} for c in found]


def _create_one(engine: SandboxEngine, body: dict[str, Any]) -> TrackingRecord:
    number = require_number(body)
    carrier_code = require_carrier(body.get("carrier_code"))
    key = identity(carrier_code, number)
    if key in engine.records:
        raise ApiError(4016)
    if key not in engine.charged:  # re-tracking the same number and carrier is not charged again (§8)
        engine.charge(COST_CREATE)
        engine.charged.add(key)
    return engine._new_record(carrier_code, number, body)


def h_post(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    # Whether single create answers 200 or 201 is not documented (reference §12.2): 200 "Success" as in C-marco.
    record = _create_one(engine, req.json_object())
    return 200, record.created_shape()


def h_batch(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    engine.check_batch_rate()
    items = req.json_array()
    if len(items) > BATCH_MAX:
        raise ApiError(4020, f"At most {BATCH_MAX} trackings can be created per call.")
    if engine.quota_remaining_fifths < COST_CREATE and all(
        isinstance(i, dict)
        and identity(str(i.get("carrier_code", "")), str(i.get("tracking_number", ""))) not in engine.charged
        for i in items
    ):
        raise ApiError(4021)
    trackings, errors = [], []
    for item in items:
        if not isinstance(item, dict):
            errors.append(
                {
                    "tracking_number": None,
                    "carrier_code": None,
                    "code": 4012,
                    "message": "Each item must be a JSON object.",
                }
            )
            continue
        try:
            trackings.append(_create_one(engine, item).created_shape())
        except ApiError as error:
            errors.append(
                {
                    "tracking_number": item.get("tracking_number"),
                    "carrier_code": item.get("carrier_code"),
                    "code": error.code,
                    "message": error.message,
                }
            )
    # 201 "Created" even with per-item errors (reference §3.2 live capture, §11).
    return 201, {"submitted": len(items), "added": len(trackings), "trackings": trackings, "errors": errors}


def _path_record(engine: SandboxEngine, req: Request, unknown: int) -> TrackingRecord:
    carrier = req.params["carrier_code"]
    number = req.params["tracking_number"]
    if not valid_number(number):
        raise ApiError(4014)
    carrier_code = require_carrier(carrier)
    record = engine.find(carrier_code, number)
    if record is None:
        raise ApiError(unknown)
    return record


def h_get_one(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    # The optional /{lang} segment is accepted; the sandbox's events are English only (reference §3.4).
    record = _path_record(engine, req, 4031)
    return 200, record.full_shape(engine.sim_now)


def _apply_edits(engine: SandboxEngine, record: TrackingRecord, body: dict[str, Any]) -> tuple[Any, Any]:
    """Apply PUT / updatemore fields; returns the status and archived values to echo (seed 004)."""
    status_echo = None
    new_override: str | bool | None = False  # False = unchanged
    if "status" in body and body["status"] not in (None, ""):
        raw = str(body["status"]).strip()
        if raw not in STATUS_INPUT:
            raise ApiError(4033)
        new_override = STATUS_INPUT[raw]
        status_echo = raw
    archived_echo = None
    if "archived" in body and body["archived"] is not None:
        raw_archived = str(body["archived"]).strip().lower()
        if raw_archived not in {"true", "false"}:
            raise ApiError(4012, "archived must be the string 'true' or 'false'.")
        archived_echo = raw_archived
    before_status = record.status
    for name in EDITABLE_FIELDS:
        if name in body:
            record.fields[name] = body[name]
    if archived_echo is not None:
        record.archived = archived_echo == "true"
    if new_override is not False:
        record.override = new_override if isinstance(new_override, str) else None
    record.updated_ts = time.time()
    if record.status != before_status:
        engine._push(record)  # an override that changes the status is pushed like a carrier change
    return status_echo, archived_echo


def h_put(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    record = _path_record(engine, req, 4017)
    status_echo, archived_echo = _apply_edits(engine, record, req.json_object())
    return 200, record.put_shape(status_echo, archived_echo)


def h_delete(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    record = _path_record(engine, req, 4017)
    del engine.records[record.key]
    return 200, []  # data is an empty array (reference §3.6)


def _csv(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def h_list(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    engine.check_list_rate()
    params: dict[str, Any] = {k: v[0] for k, v in req.query.items() if v}
    if req.method == "POST" and req.raw_body.strip():
        params.update(req.json_object())  # the official PHP SDK sends the filters as a JSON body (§3.3)

    def text(name: str) -> str | None:
        value = params.get(name)
        return None if value is None or value == "" else str(value)

    page = _int_param(text("page"), "page", 1) or 1
    limit = _int_param(text("limit"), "limit", 100) or 100
    if page < 1 or limit < 1:
        raise ApiError(4012, "page and limit must be positive integers.")
    if limit > LIST_LIMIT_MAX:
        raise ApiError(4020, f"limit must be at most {LIST_LIMIT_MAX}.")
    numbers = _csv(params.get("numbers"))
    orders = _csv(params.get("orders"))
    if len(numbers) > NUMBERS_MAX or len(orders) > NUMBERS_MAX:
        raise ApiError(4020, f"At most {NUMBERS_MAX} numbers and {NUMBERS_MAX} orders per call.")
    status = text("status")
    if status is not None and status not in STATUSES:
        raise ApiError(4012, f"status must be one of {', '.join(STATUSES)}.")
    bounds = {
        name: _int_param(text(name), name)
        for name in (
            "created_at_min",
            "created_at_max",
            "update_time_min",
            "update_time_max",
            "order_created_time_min",
            "order_created_time_max",
        )
    }
    archived = text("archived")
    wanted_numbers = {n.upper() for n in numbers}
    wanted_orders = set(orders)
    items = []
    # Newest created first (inferred; the order is not documented).
    for record in sorted(engine.records.values(), key=lambda r: (-int(r.created_ts), -r.seq)):
        if status and record.status != status:
            continue
        if wanted_numbers and record.tracking_number.upper() not in wanted_numbers:
            continue
        if wanted_orders and str(record.fields.get("order_id", "")) not in wanted_orders:
            continue
        if archived == "true" and not record.archived:
            continue
        if archived == "false" and record.archived:
            continue
        if not _within(int(record.created_ts), bounds["created_at_min"], bounds["created_at_max"]):
            continue
        if not _within(int(record.updated_ts), bounds["update_time_min"], bounds["update_time_max"]):
            continue
        if bounds["order_created_time_min"] is not None or bounds["order_created_time_max"] is not None:
            ts = record.order_create_ts()
            if ts is None or not _within(int(ts), bounds["order_created_time_min"], bounds["order_created_time_max"]):
                continue
        items.append(record)
    page_items = items[(page - 1) * limit : page * limit]
    return 200, {
        "page": page,
        "limit": limit,
        "total": str(len(items)),  # a string in the live capture (reference §3.3)
        "count": len(page_items),
        "items": [r.full_shape(engine.sim_now) for r in page_items],
    }


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _many_items(req: Request) -> list[Any]:
    items = req.json_array()
    if len(items) > MANY_MAX:
        raise ApiError(4020, f"At most {MANY_MAX} items per call.")
    return items


def _item_record(engine: SandboxEngine, item: Any) -> TrackingRecord:
    if not isinstance(item, dict):
        raise ApiError(4012, "Each item must be a JSON object.")
    number = require_number(item)
    carrier_code = require_carrier(item.get("carrier_code"))
    record = engine.find(carrier_code, number)
    if record is None:
        raise ApiError(4017)
    return record


def _item_error(item: Any, error: ApiError) -> dict[str, Any]:
    source = item if isinstance(item, dict) else {}
    return {
        "tracking_number": source.get("tracking_number"),
        "carrier_code": source.get("carrier_code"),
        "code": error.code,
        "message": error.message,
    }


def h_updatemore(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    # Response not captured (reference §3.7): inferred by analogy with batch / notupdate.
    items = _many_items(req)
    trackings, errors = [], []
    for item in items:
        try:
            record = _item_record(engine, item)
            status_echo, archived_echo = _apply_edits(engine, record, item)
            trackings.append(record.put_shape(status_echo, archived_echo))
        except ApiError as error:
            errors.append(_item_error(item, error))
    return 200, {"submitted": len(items), "updated": len(trackings), "trackings": trackings, "errors": errors}


def h_delete_many(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    # Per-item results are wrapped in their own `meta` (reference §3.8); their content beyond tracking_number
    # was not captured: the sandbox adds carrier_code, code and message.
    items = _many_items(req)
    results, deleted = [], 0
    for item in items:
        source = item if isinstance(item, dict) else {}
        try:
            record = _item_record(engine, item)
            del engine.records[record.key]
            deleted += 1
            results.append(
                {
                    "meta": {
                        "tracking_number": record.tracking_number,
                        "carrier_code": record.carrier_code,
                        "code": 200,
                        "message": "Success",
                    }
                }
            )
        except ApiError as error:
            results.append(
                {
                    "meta": {
                        "tracking_number": source.get("tracking_number"),
                        "carrier_code": source.get("carrier_code"),
                        "code": error.code,
                        "message": error.message,
                    }
                }
            )
    return 200, {"submitted": len(items), "delete": deleted, "trackings": results}


def h_notupdate(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    # `{submitted, change, trackings}` (reference §3.13, truncated); `errors` added for unknown items (inferred).
    items = _many_items(req)
    trackings, errors = [], []
    for item in items:
        try:
            record = _item_record(engine, item)
            if record.track_update:
                record.track_update = False
                record.updated_ts = time.time()
            trackings.append(
                {"tracking_number": record.tracking_number, "carrier_code": record.carrier_code, "track_update": False}
            )
        except ApiError as error:
            errors.append(_item_error(item, error))
    return 200, {"submitted": len(items), "change": len(trackings), "trackings": trackings, "errors": errors}


def h_realtime(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    engine.check_realtime_rate()
    body = req.json_object()
    number = require_number(body)
    carrier_code = require_carrier(body.get("carrier_code"))
    key = identity(carrier_code, number)
    last = engine.realtime_last.get(key)
    if (
        engine.config.enforce_realtime_interval
        and last is not None
        and engine.sim_now - last < timedelta(hours=REALTIME_SAME_NUMBER_HOURS)
    ):
        raise ApiError(429, "The same tracking number can be queried in real time at most once every 2 hours.")
    record = engine.records.get(key)
    if record is None:  # realtime also adds the number to the account (reference §3.9), at the create price
        record = _create_one(engine, body)
    engine._refresh(record)
    engine.realtime_last[key] = engine.sim_now
    return 200, {"items": [record.full_shape(engine.sim_now, realtime=True)]}


def h_update_carrier(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    body = req.json_object()
    number = require_number(body)
    carrier_code = require_carrier(body.get("carrier_code"))
    new_code = require_carrier(body.get("update_carrier_code"))
    record = engine.find(carrier_code, number)
    if record is None:
        raise ApiError(4017)
    if new_code != record.carrier_code:
        new_key = identity(new_code, number)
        if new_key in engine.records:
            raise ApiError(4016)
        del engine.records[record.key]
        # The identity moves; the new carrier re-tracks the number from scratch (status pending until refreshed).
        record.carrier_code = new_code
        hint = record.fields.get("destination_code")
        record.plan = make_plan(
            engine.config.seed, CARRIERS[new_code], record.tracking_number, hint if isinstance(hint, str) else None
        )
        record.snapshot = None
        record.override = None
        record.updated_ts = time.time()
        engine.records[new_key] = record
    return 200, {"Usertag": ""}  # reference §3.10


def h_userinfo(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    remaining = _unit(engine.quota_remaining_fifths)
    # The sandbox has one balance: the remaining quota, reported as both `money` and `track_number` (inferred).
    return 200, {
        "email": engine.config.email,
        "regtime": str(engine.regtime),
        "phone": "+15550100000",
        "money": remaining,
        "track_number": remaining,
    }


def h_statusnumber(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    # Body not captured (reference §3.12): the 51tracking clone's {status: count} shape.
    bounds = {
        name: _int_param(req.q(name), name)
        for name in ("created_at_min", "created_at_max", "order_created_time_min", "order_created_time_max")
    }
    counts = dict.fromkeys(STATUSES, 0)
    for record in engine.records.values():
        if not _within(int(record.created_ts), bounds["created_at_min"], bounds["created_at_max"]):
            continue
        if bounds["order_created_time_min"] is not None or bounds["order_created_time_max"] is not None:
            ts = record.order_create_ts()
            if ts is None or not _within(int(ts), bounds["order_created_time_min"], bounds["order_created_time_max"]):
                continue
        counts[record.status] += 1
    return 200, counts


def h_remote(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    items = _many_items(req)
    engine.charge(COST_REMOTE)  # 0.2 per call (reference §2, §8)
    return 200, remote.check(items)


def h_costtime(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    items = _many_items(req)
    return 200, [costtime.item_stats(engine.config.seed, item) for item in items]


def h_aircargo(engine: SandboxEngine, req: Request) -> tuple[int, Any]:
    body = req.json_object()
    raw = body.get("track_number")
    if raw is None or raw in ("", []):
        raise ApiError(4013, "track_number is required.")
    numbers = [raw] if isinstance(raw, str) else raw
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise ApiError(4012, "track_number must be a list of air waybill numbers.")
    if len(numbers) > MANY_MAX:
        raise ApiError(4020, f"At most {MANY_MAX} air waybills per call.")
    parsed = [aircargo.parse(n) for n in numbers]
    valid = {p.key for p in parsed if p.error is None}
    engine.charge(COST_AWB * len(valid))  # 20 per air waybill (reference §3.16)
    data: dict[str, Any] = {}
    for awb in parsed:
        if awb.error is not None:
            data[awb.key] = aircargo.error_item(awb)
            continue
        anchor = engine.awb_anchors.setdefault(awb.key, aircargo.anchor(engine.config.seed, awb, engine.sim_now))
        data[awb.key] = aircargo.track(engine.config.seed, awb, anchor, engine.sim_now)
    return 200, data


_ROUTE_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "/carriers", h_carriers),
    ("POST", "/carriers/detect", h_detect),
    ("POST", "/trackings/post", h_post),
    ("POST", "/trackings/batch", h_batch),
    ("GET", "/trackings/get", h_list),
    ("POST", "/trackings/get", h_list),
    ("POST", "/trackings/updatemore", h_updatemore),
    ("POST", "/trackings/delete", h_delete_many),
    ("POST", "/trackings/realtime", h_realtime),
    ("POST", "/trackings/update", h_update_carrier),
    ("GET", "/trackings/getuserinfo", h_userinfo),
    ("GET", "/trackings/getstatusnumber", h_statusnumber),
    ("POST", "/trackings/notupdate", h_notupdate),
    ("POST", "/trackings/remote", h_remote),
    ("POST", "/trackings/costtime", h_costtime),
    ("POST", "/trackings/aircargo", h_aircargo),
    ("GET", "/trackings/{carrier_code}/{tracking_number}", h_get_one),
    ("PUT", "/trackings/{carrier_code}/{tracking_number}", h_put),
    ("DELETE", "/trackings/{carrier_code}/{tracking_number}", h_delete),
]


def _compile(template: str, *, lang: bool = False) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names = tuple(re.findall(r"\{(\w+)\}", template))
    pattern = re.sub(r"\{\w+\}", _SEGMENT, template)
    if lang:
        pattern += r"(?:/([a-zA-Z_-]{2,8}))?"
    return re.compile(f"^/v2{pattern}/?$"), names


ROUTES: list[Route] = []
for _method, _template, _handler in _ROUTE_TABLE:
    _pattern, _names = _compile(_template, lang=_method == "GET" and "{" in _template)
    ROUTES.append(Route(_method, _template, _pattern, _handler, _names))
# Fixed paths first so "/trackings/get" never reads as carrier "get".
ROUTES.sort(key=lambda r: "{" in r.template)


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    allowed = False
    for route in ROUTES:
        match = route.pattern.match(path)
        if not match:
            continue
        if route.method != method:
            allowed = True
            continue
        params = dict(zip(route.params, (g for g in match.groups()[: len(route.params)]), strict=True))
        return route, params, True
    return None, {}, allowed


def endpoint_keys() -> list[str]:
    return sorted({r.key for r in ROUTES})
