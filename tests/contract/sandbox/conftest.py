"""Fixtures of the sandbox conformance suite (the ``sandbox`` fixture itself lives in tests/plugins/sandbox.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2


@pytest.fixture
def v2(sandbox: SandboxServer) -> Iterator[V2]:
    client = V2(sandbox.base_url, sandbox.api_key)
    yield client
    client.session.close()
