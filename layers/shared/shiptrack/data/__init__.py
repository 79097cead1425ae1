"""Data access: the only package that speaks DynamoDB (template.yaml tables; docs/data-model.md).

Nothing here is imported by this ``__init__``: a function loads only the modules its path uses (cold start).

**TrackingsTable** — one item per tracking, ``pk = "{carrier_code}#{tracking_number}"``:

* :mod:`~shiptrack.data.codec` — items ↔ :class:`~shiptrack.models.Tracking` (also for stream images), index keys;
* :mod:`~shiptrack.data.trackings` — :class:`~shiptrack.data.trackings.TrackingsRepository`, the reads and the
  optimistic, monotonic writes (the rule itself: :mod:`~shiptrack.data.monotonic`);
* :mod:`~shiptrack.data.queries` — the list planner and the index pagers; :mod:`~shiptrack.data.cursors` — signed
  listing cursors; :mod:`~shiptrack.data.expressions` — condition strings with their own placeholders.

**CacheTable** — several item families, keyed by ``pk``; each family has one repository, which alone defines its
key prefix and is the only code that reads or writes those items:

============================  ===================================  ==================================================
prefix                        owner                                what
============================  ===================================  ==================================================
``CLAIM#TRACKING#{pk}``       :mod:`~shiptrack.data.claims`        create claims: one upstream create per identity
``ORDER#{order}#{number}``    :mod:`~shiptrack.data.order_markers` shipments of an Order Shipped event already done
``JOB#{name}``                :mod:`~shiptrack.data.jobs`          refresh / archive checkpoints
``CACHE#{namespace}#…``       :mod:`~shiptrack.data.cache`         cached lookup answers (AWB, REMOTE, TRANSIT)
``PUSH#{digest}``             :mod:`~shiptrack.data.push_replays`  TrackingMore pushes already acted on (replays)
``FETCH#{pk}``                :mod:`~shiptrack.data.fetch_leases`  one read of a pushed tracking at a time
``RATE#{route}``              :mod:`~shiptrack.data.rate_limits`   TrackingMore's account-wide rate limits, shared
============================  ===================================  ==================================================

A new family is one more module here with its own prefix, built
on :mod:`~shiptrack.data.dynamodb` (conditional writes, bounded batch reads), listed in this table and in
docs/data-model.md.

``CACHE#DETECT#{number}`` is the carrier detections' namespace of :mod:`~shiptrack.data.cache`
(``shiptrack.services.detection``).

**ImportsTable** — bulk imports, ``pk = IMPORT#{id}``: a header (``sk = IMPORT``) and its chunks
(``sk = CHUNK#{n}``), all in :mod:`~shiptrack.data.imports`.
**WebhookEndpointsTable** and **WebhookDeliveriesTable** — storefront webhooks, keyed by ``pk`` and ``sk``, in
tables of their own (the endpoints' stream feeds WebhookEndpointEventsFunction; deliveries expire by TTL):

==============================  =========================================  =============================================
``pk`` / ``sk``                 owner                                      what
==============================  =========================================  =============================================
``ENDPOINT`` / ``ep_…``         :mod:`~shiptrack.data.webhook_endpoints`   endpoints: URL, types, secrets, health
``DELIVERY#{endpoint}`` /       :mod:`~shiptrack.data.webhook_deliveries`  one event for one endpoint, with its
``dlv_…``                                                                  attempts (``status_pk``: the ByStatus index)
``PAYLOAD#{event id}`` /        :mod:`~shiptrack.data.webhook_deliveries`  the signed body of one event, shared by its
``PAYLOAD``                                                                deliveries
==============================  =========================================  =============================================

Their ids (``ep_…``, ``dlv_…``) sort by time (:mod:`~shiptrack.data.sortable_ids`), so a descending Query lists
newest first; their listing cursors are signed by the same :class:`~shiptrack.data.cursors.CursorSigner`.

**IdempotencyTable** is Powertools Idempotency's own (``shiptrack.idempotency``); nothing here touches it.
"""
