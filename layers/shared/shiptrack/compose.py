"""The composition root: each Lambda function's dependencies, built in one place.

Services take what they need as arguments and never build it themselves; routes and handlers ask this module,
once per request or invocation, for their function's bundle. Everything comes from the warm-environment
singletons of :mod:`shiptrack.runtime` and the settings, so a new dependency (a rate gate on the client, keys
from a secret) is wired here and in ``runtime`` only.

TrackingMore clients are passed as *factories*: building one reads the secret, and a request that never calls
upstream (a read, a create of a tracking we hold, a cache hit) must not pay for it. Every client is bound to the
deadline of the invocation the bundle is built for (:func:`shiptrack.deadline.current`, bound by the API resolver
for every route and by each event handler; the jobs pass theirs): no service can call TrackingMore past it, and
a factory may be called from any thread.

| Function | Bundle | Used by |
|---|---|---|
| TrackingsFunction | :func:`trackings` | ``shiptrack.routes.trackings`` |
| RealtimeFunction | :func:`realtime` | ``shiptrack.routes.realtime`` |
| WebhookFunction | :func:`webhook` | ``shiptrack.routes.webhooks`` |
| AircargoFunction | :func:`aircargo` | ``shiptrack.routes.aircargo`` |
| RemoteChecksFunction | :func:`remote_checks` | ``shiptrack.routes.remote_checks`` |
| OrderEventsFunction | :func:`order_events` | ``functions/order_events/app.py`` |
| ImportsFunction | :func:`imports` | ``shiptrack.routes.imports`` |
| ImportDispatchFunction | :func:`import_dispatch` | ``functions/import_dispatch/app.py`` |
| ImportWorkerFunction | :func:`import_worker` | ``functions/import_worker/app.py`` |
| PublisherFunction | :func:`publisher` | ``functions/publisher/app.py`` |
| RefreshFunction | :func:`refresh` | ``functions/refresh/app.py`` |
| ArchiveFunction | :func:`archive` | ``functions/archive/app.py`` |
| WebhookEndpointsFunction | :func:`webhook_endpoints` | ``shiptrack.routes.webhook_endpoints`` |
| WebhookFanoutFunction | :func:`webhook_fanout` | ``functions/webhook_fanout/app.py`` |
| WebhookDeliveryFunction | :func:`webhook_delivery` | ``functions/webhook_delivery/app.py`` |
| WebhookEndpointEventsFunction | :func:`webhook_endpoint_events` | ``functions/webhook_endpoint_events/app.py`` |

The webhook's bundle is the service's own :class:`~shiptrack.services.webhooks.PushReceiver`, the delivery
function's the service's own :class:`~shiptrack.services.webhook_delivery.DeliveryContext`:
every attempt of a batch takes all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from shiptrack import deadline as deadlines
from shiptrack import runtime
from shiptrack.settings import get_settings, get_webhook_secrets

if TYPE_CHECKING:
    from shiptrack.data.cache import TtlCache
    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.cursors import CursorSigner
    from shiptrack.data.imports import ImportsRepository
    from shiptrack.data.jobs import JobStateStore
    from shiptrack.data.order_markers import OrderMarkers
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
    from shiptrack.data.webhook_endpoints import WebhookEndpointRepository
    from shiptrack.deadline import Deadline
    from shiptrack.services.aircargo import AirWaybill
    from shiptrack.services.detection import DetectedCarrier
    from shiptrack.services.import_dispatch import ChunkQueue
    from shiptrack.services.lookups import LookupSource
    from shiptrack.services.orders import CreateTrackings
    from shiptrack.services.refresh import RefreshConfig
    from shiptrack.services.remote_checks import RemoteAnswer, TransitTimeStats
    from shiptrack.services.webhook_delivery import DeliveryContext
    from shiptrack.services.webhook_queue import WebhookQueues
    from shiptrack.services.webhooks import PushReceiver
    from trackingmore import TrackingMoreClient

__all__ = [
    "Archive",
    "ImportDispatch",
    "ImportWorker",
    "Imports",
    "OrderEvents",
    "Publisher",
    "Realtime",
    "Refresh",
    "RemoteChecks",
    "Trackings",
    "WebhookEndpointEvents",
    "WebhookEndpoints",
    "WebhookFanout",
    "aircargo",
    "archive",
    "bound_client",
    "detection_cache",
    "import_dispatch",
    "import_worker",
    "imports",
    "order_events",
    "publisher",
    "realtime",
    "refresh",
    "remote_checks",
    "trackings",
    "webhook",
    "webhook_delivery",
    "webhook_endpoint_events",
    "webhook_endpoints",
    "webhook_fanout",
]

ClientFactory = Callable[[], "TrackingMoreClient"]


#: Seconds a client bound to an invocation's deadline keeps for its caller after giving up on TrackingMore: to store
#: what it got and shape the answer (the deadline's own reserve then covers getting the answer out).
CLIENT_DEADLINE_MARGIN = 1.0
#: The batch route's margin instead: after its client gives up it still stores what the chunks in flight brought
#: back (up to ``CHUNK_CONCURRENCY`` × 40 trackings, one write each) and answers up to 1000 results.
BATCH_CLIENT_DEADLINE_MARGIN = 4.0


def bound_client(
    deadline: Deadline | None, *, max_retries: int | None = None, margin: float = CLIENT_DEADLINE_MARGIN
) -> TrackingMoreClient:
    """The process's TrackingMore client (``runtime.trackingmore_client``) as a view bound to ``deadline``
    (``TrackingMoreClient.with_deadline``: same session, gate and policy), so no call outlives it; ``margin``
    seconds are kept for the caller."""
    client = runtime.trackingmore_client(max_retries=max_retries)
    if deadline is None:
        return client
    return client.with_deadline(deadline.seconds_left, margin=margin)


def _client(*, max_retries: int | None = None) -> ClientFactory:
    """A factory of TrackingMore clients bound to the current invocation's deadline (read now, in the request's
    thread; the factory may then be called from any thread)."""
    return partial(bound_client, deadlines.current(), max_retries=max_retries)


def detection_cache() -> TtlCache[DetectedCarrier]:
    """Carrier detections in CacheTable (``CACHE#DETECT#``), shared by every path that creates trackings."""
    from shiptrack.data.cache import TtlCache
    from shiptrack.services.detection import DETECTION_NAMESPACE, DetectedCarrier

    return TtlCache(runtime.cache_table(), DETECTION_NAMESPACE, DetectedCarrier)


# The bundles are NamedTuples, not dataclasses: every function imports this module at cold start, and a
# NamedTuple class costs a tenth of a dataclass to create.


class Trackings(NamedTuple):
    store: TrackingsRepository
    client: ClientFactory
    claims: CreateClaims
    retention_days: int
    deadline: Deadline | None
    detections: TtlCache[DetectedCarrier]
    batch_client: ClientFactory


def trackings() -> Trackings:
    """TrackingsFunction: create (one / batch), list, get, update, delete. ``deadline``: the request's (waits for
    an identical create in flight end with it); ``batch_client``: the batch route's, keeping
    :data:`BATCH_CLIENT_DEADLINE_MARGIN` to store and answer."""
    return Trackings(
        store=runtime.trackings_repository(),
        client=_client(),
        claims=runtime.create_claims(),
        retention_days=get_settings().retention_days,
        deadline=deadlines.current(),
        detections=detection_cache(),
        batch_client=partial(bound_client, deadlines.current(), margin=BATCH_CLIENT_DEADLINE_MARGIN),
    )


class Realtime(NamedTuple):
    store: TrackingsRepository
    client: ClientFactory
    default_max_age_seconds: int


def realtime() -> Realtime:
    """RealtimeFunction: the client never retries (``shiptrack.services.realtime`` says why)."""
    return Realtime(
        store=runtime.trackings_repository(),
        client=_client(max_retries=0),
        default_max_age_seconds=get_settings().realtime_max_age_seconds,
    )


def webhook() -> PushReceiver:
    """WebhookFunction: the push receiver — the webhook secret's tokens and e-mail, the replay cache and fetch leases
    in CacheTable, and the client that reads TrackingMore's copy of a pushed tracking."""
    from shiptrack.data.fetch_leases import FetchLeases
    from shiptrack.data.push_replays import PushReplays
    from shiptrack.services.webhooks import PushReceiver

    settings, secrets = get_settings(), get_webhook_secrets()
    return PushReceiver(
        store=runtime.trackings_repository(),
        replays=PushReplays(runtime.cache_table()),
        leases=FetchLeases(runtime.cache_table()),
        client=_client(),
        tokens=secrets.tokens,
        account_email=secrets.account_email,
        tolerance_seconds=settings.webhook_tolerance_seconds,
        trust_body=settings.webhook_trust_push_body,
    )


def aircargo() -> LookupSource[AirWaybill, TrackingMoreClient]:
    """AircargoFunction: answers cached per waybill (``CACHE#AWB#``)."""
    from shiptrack.data.cache import TtlCache
    from shiptrack.services.aircargo import AirWaybill
    from shiptrack.services.lookups import LookupSource

    cache = TtlCache(runtime.cache_table(), "AWB", AirWaybill)
    return LookupSource(cache, get_settings().aircargo_cache_seconds, _client())


class RemoteChecks(NamedTuple):
    remote: LookupSource[RemoteAnswer, TrackingMoreClient]
    transit: LookupSource[TransitTimeStats, TrackingMoreClient]


def remote_checks() -> RemoteChecks:
    """RemoteChecksFunction: remote areas (``CACHE#REMOTE#``) and transit times (``CACHE#TRANSIT#``), one client."""
    from shiptrack.data.cache import TtlCache
    from shiptrack.services.lookups import LookupSource
    from shiptrack.services.remote_checks import RemoteAnswer, TransitTimeStats

    settings, table, client = get_settings(), runtime.cache_table(), _client()
    return RemoteChecks(
        remote=LookupSource(TtlCache(table, "REMOTE", RemoteAnswer), settings.remote_cache_seconds, client),
        transit=LookupSource(TtlCache(table, "TRANSIT", TransitTimeStats), settings.transit_cache_seconds, client),
    )


class OrderEvents(NamedTuple):
    markers: OrderMarkers
    create_trackings: CreateTrackings
    deadline: Deadline | None


def order_events() -> OrderEvents:
    """OrderEventsFunction: shipments become trackings through the batch route's service, within the invocation's
    deadline (bound by the handler)."""
    from shiptrack.services.create import create_trackings

    create = partial(
        create_trackings, store=runtime.trackings_repository(), client=_client(), detections=detection_cache()
    )
    return OrderEvents(markers=runtime.order_markers(), create_trackings=create, deadline=deadlines.current())


class Imports(NamedTuple):
    imports: ImportsRepository
    store: TrackingsRepository
    signer: CursorSigner
    retention_days: int


def imports() -> Imports:
    """ImportsFunction: accept imports, read them and their results (no upstream call: no client)."""
    return Imports(
        imports=runtime.imports_repository(),
        store=runtime.trackings_repository(),
        signer=runtime.cursor_signer(),
        retention_days=get_settings().import_retention_days,
    )


#: Milliseconds the import worker keeps back from its Lambda timeout once its upstream calls must end: to store a
#: chunk's trackings and complete it, or give its claim back (``shiptrack.services.import_worker``).
WORKER_RESERVE_MS = 10_000


def _chunk_queue() -> ChunkQueue:
    from shiptrack.services.import_dispatch import ChunkQueue

    return ChunkQueue(runtime.sqs_client(), get_settings().import_queue_url)


class ImportDispatch(NamedTuple):
    imports: ImportsRepository
    queue: ChunkQueue


def import_dispatch() -> ImportDispatch:
    """ImportDispatchFunction: new imports' chunks onto ImportChunksQueue."""
    return ImportDispatch(imports=runtime.imports_repository(), queue=_chunk_queue())


class ImportWorker(NamedTuple):
    imports: ImportsRepository
    store: TrackingsRepository
    client: ClientFactory
    detections: TtlCache[DetectedCarrier]
    queue: ChunkQueue
    retry_seconds: int
    deadline: Deadline


def import_worker(remaining_ms: Callable[[], int]) -> ImportWorker:
    """ImportWorkerFunction: ``remaining_ms`` is the Lambda context's ``get_remaining_time_in_millis``. The deadline
    keeps :data:`WORKER_RESERVE_MS` for the last chunk's writes; the client is bound to it and, like every client,
    shares the account's rate gate (``BatchCreateRateLimit`` across every instance of every function)."""
    deadline = deadlines.Deadline(remaining_ms, reserve_ms=WORKER_RESERVE_MS)
    return ImportWorker(
        imports=runtime.imports_repository(),
        store=runtime.trackings_repository(),
        client=partial(bound_client, deadline),
        detections=detection_cache(),
        queue=_chunk_queue(),
        retry_seconds=get_settings().import_retry_seconds,
        deadline=deadline,
    )


class Publisher(NamedTuple):
    events_client: Any
    bus_name: str
    include_customer_data: bool
    deadline: Deadline | None


def publisher() -> Publisher:
    """PublisherFunction: the bus every event goes to, whether events carry customer contact data, and the
    invocation's deadline (bound by the handler)."""
    settings = get_settings()
    return Publisher(
        events_client=runtime.events_client(),
        bus_name=settings.event_bus_name,
        include_customer_data=settings.events_include_customer_data,
        deadline=deadlines.current(),
    )


def _scheduled_job(remaining_ms: Callable[[], int], *, reserve_ms: int) -> dict[str, Any]:
    """What both scheduled jobs work with: the trackings, their job state, the time budget and a client bound to
    it (no upstream call outlives the budget: the job then checkpoints in its reserve)."""
    deadline = deadlines.Deadline(remaining_ms, reserve_ms=reserve_ms)
    return {
        "store": runtime.trackings_repository(),
        "jobs": runtime.job_states(),
        "client": bound_client(deadline),
        "deadline": deadline,
    }


class Refresh(NamedTuple):
    store: TrackingsRepository
    jobs: JobStateStore
    client: TrackingMoreClient
    deadline: Deadline
    config: RefreshConfig


def refresh(remaining_ms: Callable[[], int]) -> Refresh:
    """RefreshFunction: ``remaining_ms`` is the Lambda context's ``get_remaining_time_in_millis``."""
    from shiptrack.services.refresh import RefreshConfig

    settings = get_settings()
    config = RefreshConfig(
        stale_after_hours=settings.stale_after_hours, delivered_grace_days=settings.delivered_grace_days
    )
    return Refresh(**_scheduled_job(remaining_ms, reserve_ms=config.reserve_ms), config=config)


class Archive(NamedTuple):
    store: TrackingsRepository
    jobs: JobStateStore
    client: TrackingMoreClient
    deadline: Deadline
    archive_after_days: int
    retention_days: int


def archive(remaining_ms: Callable[[], int]) -> Archive:
    """ArchiveFunction: ``remaining_ms`` is the Lambda context's ``get_remaining_time_in_millis``."""
    from shiptrack.services.archive import RESERVE_MS

    settings = get_settings()
    job = _scheduled_job(remaining_ms, reserve_ms=RESERVE_MS)
    return Archive(**job, archive_after_days=settings.archive_after_days, retention_days=settings.retention_days)


def _webhook_queues() -> WebhookQueues:
    from shiptrack.services.webhook_queue import WebhookQueues

    settings = get_settings()
    return WebhookQueues(
        runtime.sqs_client,
        events_url=settings.webhook_events_queue_url,
        deliveries_url=settings.webhook_deliveries_queue_url,
        dead_letter_url=settings.webhook_deliveries_dlq_url,
    )


class WebhookEndpoints(NamedTuple):
    endpoints: WebhookEndpointRepository
    deliveries: WebhookDeliveryRepository
    queues: WebhookQueues
    allow_loopback: bool


def webhook_endpoints() -> WebhookEndpoints:
    """WebhookEndpointsFunction: endpoints, the delivery log, and the queues pings and manual retries go to."""
    return WebhookEndpoints(
        endpoints=runtime.webhook_endpoints(),
        deliveries=runtime.webhook_deliveries(),
        queues=_webhook_queues(),
        allow_loopback=get_settings().webhook_allow_loopback,
    )


class WebhookFanout(NamedTuple):
    endpoints: WebhookEndpointRepository
    deliveries: WebhookDeliveryRepository
    queues: WebhookQueues
    retention_days: int


def webhook_fanout() -> WebhookFanout:
    """WebhookFanoutFunction: one stored, queued delivery per subscribed endpoint, kept ``retention_days``."""
    return WebhookFanout(
        endpoints=runtime.webhook_endpoints(),
        deliveries=runtime.webhook_deliveries(),
        queues=_webhook_queues(),
        retention_days=get_settings().webhook_delivery_retention_days,
    )


def webhook_delivery() -> DeliveryContext:
    """WebhookDeliveryFunction: the repositories, queues, retry schedule, URL rules and time limit of attempts."""
    from datetime import timedelta

    from shiptrack.services.webhook_delivery import DeliveryContext, RetryPolicy

    settings = get_settings()
    return DeliveryContext(
        deliveries=runtime.webhook_deliveries(),
        endpoints=runtime.webhook_endpoints(),
        queues=_webhook_queues(),
        retry=RetryPolicy(scale=settings.webhook_retry_scale),
        allow_loopback=settings.webhook_allow_loopback,
        disable_after=timedelta(days=settings.webhook_disable_after_days),
        attempt_timeout=settings.webhook_attempt_timeout_seconds,
    )


class WebhookEndpointEvents(NamedTuple):
    events_client: Any
    bus_name: str


def webhook_endpoint_events() -> WebhookEndpointEvents:
    """WebhookEndpointEventsFunction: the bus ``Webhook Endpoint Disabled`` goes to."""
    return WebhookEndpointEvents(events_client=runtime.events_client(), bus_name=get_settings().event_bus_name)
