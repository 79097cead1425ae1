"""The data seams docs/security.md relies on: the replay cache, coalesced fetches, versions that cannot come from the
future, and cursor keys from Secrets Manager (rotation, non-ASCII input)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.data.cursors import CursorSigner
from shiptrack.data.fetch_leases import LEASE_SECONDS, FetchLease, FetchLeases
from shiptrack.data.monotonic import FUTURE_SKEW, clamp_version
from shiptrack.data.push_replays import PushReplays
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.errors import InvalidCursorError
from shiptrack.models import ListQuery, Tracking, TrackingRef
from shiptrack.settings import clear_caches
from trackingmore.models import Tracking as UpstreamTracking

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REF = TrackingRef("china-post", "RR123456785CN")


class Clock:
    """Epoch seconds that only move when told."""

    def __init__(self, at: datetime = T0) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------------------ replay cache


def test_a_push_is_recorded_once_until_it_could_no_longer_be_fresh(aws: Any) -> None:
    replays = PushReplays(aws.table("CacheTable"))
    until = T0 + timedelta(minutes=5)

    assert replays.first_sighting("abc", now=T0, until=until)
    assert not replays.first_sighting("abc", now=T0 + timedelta(minutes=4), until=until)
    assert replays.first_sighting("other", now=T0, until=until)
    # Past its window the record no longer counts (the push could not pass the freshness check anyway)
    assert replays.first_sighting("abc", now=until + timedelta(seconds=2), until=until + timedelta(minutes=5))
    item = aws.table("CacheTable").get_item(Key={"pk": "PUSH#abc"})["Item"]
    assert int(item["expires_at"]) > (until + timedelta(minutes=5)).timestamp()


def test_a_forgotten_push_is_acted_on_again(aws: Any) -> None:
    replays = PushReplays(aws.table("CacheTable"))
    until = T0 + timedelta(minutes=5)
    assert replays.first_sighting("abc", now=T0, until=until)

    replays.forget("abc")

    assert replays.first_sighting("abc", now=T0, until=until)


# ------------------------------------------------------------------------------------------------ fetch leases


def test_one_push_takes_the_lease_and_the_others_coalesce(aws: Any) -> None:
    leases = FetchLeases(aws.table("CacheTable"), clock=Clock())

    first = leases.request(REF, "a")
    assert first is not None
    assert leases.request(REF, "b") is None
    assert leases.request(REF, "c") is None
    # The holder saw one push when it began; two came during its read: it reads again, then lets go
    again = leases.finish(first)
    assert again is not None
    assert again.seen == first.seen + 2
    assert leases.finish(again) is None
    assert leases.request(REF, "d") is not None  # free again


def test_a_quiet_read_releases_at_once(aws: Any) -> None:
    leases = FetchLeases(aws.table("CacheTable"), clock=Clock())
    lease = leases.request(REF, "a")
    assert lease is not None

    assert leases.finish(lease) is None
    assert leases.request(REF, "b") is not None


def test_a_crashed_holder_frees_the_parcel_when_its_lease_expires(aws: Any) -> None:
    clock = Clock()
    leases = FetchLeases(aws.table("CacheTable"), clock=clock)
    crashed = leases.request(REF, "crashed")
    assert crashed is not None
    assert leases.request(REF, "b") is None

    clock.now += LEASE_SECONDS + 1
    taken = leases.request(REF, "c")

    assert taken is not None
    assert leases.finish(crashed) is None  # the old holder lost it: the new one reads
    assert leases.finish(taken) is None


def test_an_abandoned_lease_lets_the_next_push_read(aws: Any) -> None:
    leases = FetchLeases(aws.table("CacheTable"), clock=Clock())
    lease = leases.request(REF, "a")
    assert lease is not None
    assert leases.request(REF, "b") is None  # counted, waiting on a's read

    leases.abandon(lease)  # a's read failed

    assert leases.request(REF, "c") is not None


def test_leases_are_per_parcel(aws: Any) -> None:
    leases = FetchLeases(aws.table("CacheTable"), clock=Clock())

    assert leases.request(REF, "a") is not None
    assert leases.request(TrackingRef("ups", "1Z999AA10123456784"), "b") is not None


def test_a_push_that_finds_the_lease_freed_after_counting_itself_reads(aws: Any) -> None:
    # The holder releases between a push's failed take and its count: nobody else will read for that push, so it
    # takes the lease itself rather than answering `coalesced`.
    table = aws.table("CacheTable")
    holder = FetchLeases(table, clock=Clock())
    first = holder.request(REF, "a")
    assert first is not None
    held: FetchLease = first

    class ReleasedBetweenWrites:
        def __init__(self) -> None:
            self.calls = 0

        def update_item(self, **request: Any) -> Any:
            self.calls += 1
            if self.calls == 2:  # after the failed take, before the count
                assert holder.finish(held) is None
            return table.update_item(**request)

    pusher = FetchLeases(ReleasedBetweenWrites(), clock=Clock())  # type: ignore[arg-type]
    taken = pusher.request(REF, "b")

    assert taken is not None
    assert taken.owner == "b"
    assert pusher.finish(taken) is None  # its read covers every count so far


def test_concurrent_pushes_leave_no_push_unserved(aws_server: Any) -> None:
    # Many pushes race for one parcel while the holders read and finish. Whatever the interleaving, after the last
    # push the parcel has been read after it arrived: the last push's count is covered by a finished read.
    leases = FetchLeases(aws_server.table("CacheTable"))
    served_through: list[int] = []
    lock = threading.Lock()

    def push(name: str) -> None:
        lease = leases.request(REF, name)
        while lease is not None:
            # a "read" happens here; whatever was counted up to lease.seen is covered by it
            with lock:
                served_through.append(lease.seen)
            lease = leases.finish(lease)

    threads = [threading.Thread(target=push, args=(f"p{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item = aws_server.table("CacheTable").get_item(Key={"pk": "FETCH#" + REF.key}, ConsistentRead=True)["Item"]
    assert "lease_until" not in item  # nobody holds it
    assert max(served_through) == int(item["requested"])  # the last count was read for
    assert len(served_through) <= 12


# ------------------------------------------------------------------------------------------------ no future versions


def test_a_version_is_clamped_to_the_present() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    forged = "2099-12-31T15:59:59.000000Z|2099-12-31T23:59:00|000003"

    clamped = clamp_version(forged, now=now)

    ceiling = now + FUTURE_SKEW
    assert clamped == f"{ceiling:%Y-%m-%dT%H:%M:%S}.000000Z|2026-12-07T02:01:00|000003"
    honest = "2026-12-06T11:59:00.000000Z|2026-12-06T19:00:00|000004"
    assert clamp_version(honest, now=now) == honest


def upstream_copy(updated_at: str, status: str = "transit") -> UpstreamTracking:
    return UpstreamTracking.model_validate(
        {
            "tracking_number": REF.tracking_number,
            "carrier_code": REF.carrier_code,
            "status": status,
            "updated_at": updated_at,
        }
    )


def test_no_stored_version_comes_from_the_future_so_nothing_freezes_a_parcel(aws: Any) -> None:
    now = [datetime(2026, 12, 6, 12, 0, tzinfo=UTC)]
    store = TrackingsRepository(aws.table(), clock=lambda: now[0], sleep=lambda _: None)
    store.put_new(
        Tracking(carrier_code=REF.carrier_code, tracking_number=REF.tracking_number, created_at=T0, updated_at=T0)
    )

    # A copy claiming 2099 (a forged push trusted, a broken clock) is stored with a version of the present
    store.apply_upstream_update(upstream_copy("2099-12-31T23:59:59+08:00", "exception"), observed_at=now[0], source="t")
    stored = store.load(REF)
    assert stored is not None
    assert stored.version < "2026-12-06T12:02"

    # Ten minutes on, TrackingMore's genuine copy is newer than that, and applies
    now[0] += timedelta(minutes=10)
    outcome = store.apply_upstream_update(upstream_copy("2026-12-06T12:09:00+00:00"), observed_at=now[0], source="t")
    assert outcome.reason == "applied"
    assert outcome.tracking is not None
    assert outcome.tracking.status == "transit"


def test_resync_replaces_our_copy_whatever_its_version(aws: Any) -> None:
    store = TrackingsRepository(aws.table(), sleep=lambda _: None)
    store.put_new(
        Tracking(carrier_code=REF.carrier_code, tracking_number=REF.tracking_number, created_at=T0, updated_at=T0)
    )
    store.apply_upstream_update(upstream_copy("2026-12-06T12:00:00+00:00", "delivered"), observed_at=T0, source="t")

    older = upstream_copy("2026-11-30T08:00:00+00:00", "transit")
    assert store.apply_upstream_update(older, observed_at=T0, source="t").reason == "stale"
    outcome = store.replace_from_upstream(REF, older, observed_at=T0)

    assert (outcome.reason, outcome.changed) == ("applied", True)
    stored = store.load(REF)
    assert stored is not None
    assert stored.tracking.status == "transit"  # back from delivered: the operator's call
    assert stored.version.startswith("2026-11-30T08:00:00")
    assert store.replace_from_upstream(REF, older, observed_at=T0).reason == "unchanged"
    assert (
        store.replace_from_upstream(TrackingRef("ups", "1Z999AA10123456784"), older, observed_at=T0).reason == "unknown"
    )


# ------------------------------------------------------------------------------------------------ cursor keys


def test_a_signature_that_is_not_ascii_is_an_invalid_cursor_not_a_crash(aws: Any) -> None:
    store = TrackingsRepository(aws.table(), cursors=CursorSigner([b"k"]))

    for cursor in ("eyJhIjoxfQ.\u00e9", "eyJhIjoxfQ.\u202e", "\u00e9.\u00e9", "."):
        with pytest.raises(InvalidCursorError):
            store.list(ListQuery(limit=1, cursor=cursor))


def test_keys_from_a_source_are_read_only_when_a_cursor_is_made_or_checked() -> None:
    reads: list[int] = []

    def keys() -> list[bytes]:
        reads.append(1)
        return [b"k"]

    signer = CursorSigner(keys)
    assert reads == []
    signature = signer.sign(b"payload")
    assert signer.verify(b"payload", signature)
    assert len(reads) == 2


def test_deployed_cursors_are_signed_with_the_secrets_keys_and_survive_a_rotation(aws: Any) -> None:
    secret_id = aws.names.secrets["CursorKeysSecret"].name
    clear_caches()
    runtime.clear()
    store = runtime.trackings_repository()
    for index in range(2):
        at = T0 + timedelta(minutes=index)
        number = f"CU{index:09d}CN"
        store.put_new(Tracking(carrier_code="china-post", tracking_number=number, created_at=at, updated_at=at))
    issued = store.list(ListQuery(limit=1)).next_cursor
    assert issued is not None
    # Not the key anyone could derive from the table name
    with pytest.raises(InvalidCursorError):
        TrackingsRepository(aws.table(), cursors=CursorSigner.for_table(aws.trackings_table_name)).list(
            ListQuery(limit=1, cursor=issued)
        )

    # When the key is rotated (the old one kept as previous) …
    old = json.loads(aws.secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])["current"]
    aws.secretsmanager.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"current": "k2", "previous": old}))
    clear_caches()

    # … the cursor a caller holds still works; once the old key is dropped, it no longer does
    assert [
        t.tracking_number for t in runtime.trackings_repository().list(ListQuery(limit=1, cursor=issued)).items
    ] == ["CU000000000CN"]
    aws.secretsmanager.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"current": "k2"}))
    clear_caches()
    with pytest.raises(InvalidCursorError):
        runtime.trackings_repository().list(ListQuery(limit=1, cursor=issued))
    clear_caches()
    runtime.clear()
