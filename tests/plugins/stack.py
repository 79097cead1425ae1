"""pytest fixtures: stack (registered in pyproject addopts).

* `local_stack` — session-scoped: `python -m local.stack` on the repository's template.yaml, as a child process on
  free loopback ports, ready (`GET /_local/health` is 200) before the first test, always stopped at the end.
  It is a `local.stack.StackProcess`: `.api_url`, `.invoke_url`, `.aws_endpoint`, `.sandbox_url`,
  `.sandbox_control_url`, `.api_key`, `.client(service)`, `.logs()`.
* `local_stack_factory` — session-scoped: `with running(template_path, env=..., sandbox=...) as stack:` starts another
  stack (e.g. on a fixture template), ready, and stops it when the block ends (a module fixture's teardown).

Stacks run their functions on `.local/runtime` (local/runtime.py: the layer's lock and the runtime's boto3, not the
dev venv); the factory builds it first when the lock changed.

Schedules are off in `local_stack` (LOCAL_SCHEDULE_SECONDS=0): tests fire them with
`POST {api_url}/_local/schedules/{FunctionId}`. Its sandbox answers with the realistic latency profile, scaled
(`SESSION_UPSTREAM_LATENCY`), and the changes feed holds back one second (`SESSION_PARAMETER_OVERRIDES`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from local.runtime import ensure_runtime
from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


READY_TIMEOUT_SECONDS = 120.0  # generous: the machine is shared


class StackFactory:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started = 0  # numbers the stacks' logs

    @contextlib.contextmanager
    def running(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        *,
        env: Mapping[str, str] | None = None,
        sandbox: bool = True,
        name: str = "stack",
    ) -> Iterator[StackProcess]:
        """A stack, ready, stopped when the block ends: a module's own stack when its tests are done (an idle stack
        still polls its queues and streams, about a sixth of a core), the session's at the end."""
        stack = StackProcess(
            template_path,
            env={"LOCAL_SCHEDULE_SECONDS": "0", **(env or {})},
            sandbox=sandbox,
            log_path=self.log_dir / f"{name}-{self.started}.log",
        )
        self.started += 1
        stack.start()
        try:
            stack.wait_ready(READY_TIMEOUT_SECONDS)
            yield stack
        finally:
            with contextlib.suppress(Exception):
                stack.stop()


@pytest.fixture(scope="session")
def local_stack_factory(tmp_path_factory: pytest.TempPathFactory) -> StackFactory:
    ensure_runtime()  # once here, not raced by the stacks' own start-up
    return StackFactory(tmp_path_factory.mktemp("local-stack"))


#: The session stack's upstream: the realistic profile (docs/sandbox.md), ten times faster, so the main paths meet
#: TrackingMore's shape of slowness (realtime slower than a read, batches slower with size, a long tail) without
#: making the suite much slower.
SESSION_UPSTREAM_LATENCY = "realistic:0.1"
#: The changes feed holds back changes this many seconds (90 by default): long enough to show, short for a test.
SESSION_PARAMETER_OVERRIDES = "ChangesFeedDelaySeconds=1"


@pytest.fixture(scope="session")
def local_stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    """The whole service (template.yaml, the sandbox, moto) running locally for the session."""
    env = {"LOCAL_UPSTREAM_LATENCY": SESSION_UPSTREAM_LATENCY, "LOCAL_PARAMETER_OVERRIDES": SESSION_PARAMETER_OVERRIDES}
    with local_stack_factory.running(DEFAULT_TEMPLATE, name="local-stack", env=env) as stack:
        yield stack
