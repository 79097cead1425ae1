"""Fixtures for the TrackingMore client tests.

The client under test is built by the ``client`` fixture from ``upstream`` (a scripted fake TrackingMore,
mounted as a ``requests`` adapter), ``clock`` (a fake monotonic clock whose ``sleep`` records and advances) and a
fixed jitter source, so retries, backoff and rate limits are exact and instant. To run the endpoint tests against
a TrackingMore sandbox instead, override ``make_client`` with one pointed at the sandbox's base URL.
"""

from __future__ import annotations

import pytest

from tests.unit.trackingmore.fakes import API_KEY, BASE_URL, ClientFactory, FakeClock, FakeUpstream, FixedRandom
from trackingmore import TrackingMoreClient


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream(BASE_URL)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(upstream: FakeUpstream, clock: FakeClock) -> ClientFactory:
    def make(*, api_key: str = API_KEY, max_retries: int = 3, jitter: float = 0.5) -> TrackingMoreClient:
        return TrackingMoreClient(
            api_key,
            base_url=BASE_URL,
            max_retries=max_retries,
            session=upstream.session(),
            clock=clock,
            sleep=clock.sleep,
            rng=FixedRandom(jitter),
        )

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> TrackingMoreClient:
    return make_client()
