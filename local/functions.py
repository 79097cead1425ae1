"""Lambda-like execution of the template's functions: one process per execution environment.

A `FunctionPool` per function keeps warm `Worker` processes and starts new ones on demand (cold starts), up to
`max_concurrency` (1 when the template reserves a concurrency of 1). Each worker has the function's own
environment, module state and sys.path; invocations go over a pipe as JSON; the function's Timeout is enforced
by killing the worker ("Task timed out after N.00 seconds") and starting a fresh one for the next invocation.
Workers run the functions' own interpreter (`local.runtime`: the layer's lock and the runtime's boto3), never the
dev venv's, so a dependency the layer lacks fails here as it would on Lambda.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.specs import FunctionSpec
from local.xray import trace_header

WORKER_SCRIPT = Path(__file__).resolve().parent / "lambda_worker.py"
DEFAULT_MAX_CONCURRENCY = 4
# Lambda's "6 MB" synchronous payload quotas, to the byte Lambda enforces: a larger Invoke request is refused
# (413 RequestEntityTooLargeException); a larger response fails the invocation (Function.ResponseSizeTooLarge).
MAX_REQUEST_BYTES = 6_291_456
MAX_RESPONSE_BYTES = 6_291_556
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's init phase limit
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Variables of the developer's shell a worker keeps; everything else comes from the template, as on Lambda.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")

LogSink = Callable[[str, str], None]  # (function logical id, line)


class ThrottledError(Exception):
    """No execution environment became free in time (Lambda's TooManyRequestsException)."""


class PoolClosedError(Exception):
    """The stack is stopping."""


@dataclass(frozen=True)
class InvokeResult:
    request_id: str
    ok: bool
    payload: Any  # the handler's return value, or Lambda's error object
    duration_ms: float
    cold_start: bool
    trace_id: str | None = None  # the invocation's _X_AMZN_TRACE_ID

    @property
    def function_error(self) -> str | None:
        """What Lambda puts in X-Amz-Function-Error."""
        return None if self.ok else "Unhandled"


def timeout_error(request_id: str, seconds: float) -> dict[str, Any]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
    }


def runtime_exit_error(request_id: str, detail: str) -> dict[str, Any]:
    return {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {detail}"}


def worker_environment(
    spec: FunctionSpec,
    *,
    region: str,
    aws_endpoint: str | None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment a function's worker starts with (what Lambda would give it, pointed at local services)."""
    env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    env.update(spec.environment)
    env.update(extra or {})
    paths = [str(spec.code_uri), *(str(p) for p in spec.layer_paths)]
    env.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
            "LAMBDA_TASK_ROOT": str(spec.code_uri),
            "_HANDLER": spec.handler,
            "TZ": "UTC",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if aws_endpoint:
        env["AWS_ENDPOINT_URL"] = aws_endpoint
    return env


class Worker:
    """One execution environment (a child process). Used by one invocation at a time."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], log: LogSink, python: Path) -> None:
        self.spec = spec
        req_read, self._req_write = os.pipe()
        self._resp_read, resp_write = os.pipe()
        stream_id = uuid.uuid4().hex
        child_env = {
            **env,
            "LOCAL_WORKER_FDS": f"{req_read},{resp_write}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{stream_id}",
        }
        try:
            self.process = subprocess.Popen(  # noqa: S603 - the functions' interpreter and our worker script
                [str(python), "-u", str(WORKER_SCRIPT)],
                env=child_env,
                cwd=str(spec.code_uri) if spec.code_uri.is_dir() else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(req_read, resp_write),
                start_new_session=True,  # Ctrl-C goes to the stack, which stops workers itself
            )
        finally:
            os.close(req_read)
            os.close(resp_write)
        self._buffer = b""
        self._log_threads = [
            threading.Thread(target=self._pump, args=(stream, log), daemon=True, name=f"log-{spec.logical_id}")
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for thread in self._log_threads:
            thread.start()
        self.init_error: dict[str, Any] | None = None

    def _pump(self, stream: IO[bytes] | None, log: LogSink) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            log(self.spec.logical_id, raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def wait_ready(self, timeout: float) -> None:
        """Wait for the init phase (the handler module imported)."""
        message = self._read_message(time.monotonic() + timeout)
        if message is None:
            timed_out = self.alive
            self.kill()
            self.init_error = {
                "errorType": "Runtime.InitTimeout" if timed_out else "Runtime.ExitError",
                "errorMessage": f"init phase did not finish within {timeout:.0f} s"
                if timed_out
                else f"Runtime exited during init: exit status {self.process.returncode}",
            }
        elif message.get("type") == "init_error":
            self.init_error = message["error"]
            self.kill()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, request_id: str, event: Any, timeout: float, trace_id: str) -> tuple[str, Any]:
        """Run one invocation: ("ok", result) | ("error", error) | ("timeout", None) | ("died", exit code).

        After "timeout" or "died" the worker is dead."""
        request = {
            "id": request_id,
            "event": event,
            "deadline_ms": int((time.time() + timeout) * 1000),
            "invoked_function_arn": self.spec.arn,
            "trace_id": trace_id,
            "max_response_bytes": MAX_RESPONSE_BYTES,
        }
        try:
            _write_all(self._req_write, json.dumps(request).encode() + b"\n")
        except OSError:
            self.kill()
            return "died", self.process.returncode
        message = self._read_message(time.monotonic() + timeout)
        if message is None:
            timed_out = self.alive
            self.kill()
            return ("timeout", None) if timed_out else ("died", self.process.returncode)
        if message.get("ok"):
            return "ok", message.get("result")
        return "error", message.get("error")

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                ready, _, _ = select.select([self._resp_read], [], [], min(remaining, 0.5))
            except (OSError, ValueError):
                return None
            if not ready:
                continue
            try:
                chunk = os.read(self._resp_read, 1 << 16)
            except OSError:
                return None
            if not chunk:
                return None  # the worker exited
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return dict(json.loads(line))

    def kill(self) -> None:
        """SIGKILL the worker (and anything it started) and reap it. Safe to call twice."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def dispose(self) -> None:
        """Kill and close the pipes; only once no invocation uses the worker."""
        self.kill()
        for fd in (self._req_write, self._resp_read):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._req_write = self._resp_read = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FunctionPool:
    """The execution environments of one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        env: Mapping[str, str],
        log: LogSink,
        *,
        python: Path,
        max_concurrency: int | None = None,
    ) -> None:
        self.spec = spec
        self.env = dict(env)
        self.log = log
        self.python = python
        if max_concurrency is None:
            reserved = spec.reserved_concurrency
            max_concurrency = DEFAULT_MAX_CONCURRENCY if reserved is None else min(reserved, DEFAULT_MAX_CONCURRENCY)
        self.max_concurrency = max_concurrency
        # How long an invocation waits for a busy environment before it is throttled.
        self.throttle_wait = float(spec.timeout) + 5
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._lock = threading.Condition()
        self._closed = False
        self.cold_starts = 0  # environments whose init succeeded (the prewarm test reads it)

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._all)

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._all) + self._starting - len(self._idle)

    def _acquire(self) -> tuple[Worker | None, bool]:
        deadline = time.monotonic() + self.throttle_wait
        with self._lock:
            while True:
                if self._closed:
                    raise PoolClosedError(self.spec.logical_id)
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        return worker, False
                    self._all.discard(worker)
                if len(self._all) + self._starting < self.max_concurrency:
                    self._starting += 1
                    return None, True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ThrottledError(f"Rate Exceeded: {self.spec.logical_id} has {self.max_concurrency} busy")
                self._lock.wait(min(remaining, 0.5))

    def _release(self, worker: Worker | None) -> None:
        with self._lock:
            if worker is not None:
                if worker.alive and not self._closed:
                    self._idle.append(worker)
                else:
                    self._all.discard(worker)
                    worker.dispose()
            self._lock.notify()

    def invoke(self, event: Any, request_id: str | None = None) -> InvokeResult:
        """Invoke synchronously (RequestResponse). Raises ThrottledError, PoolClosedError."""
        request_id = request_id or str(uuid.uuid4())
        # Lambda samples every invocation of an Active function locally (its real rate is 1/s plus 5 %).
        trace_id = trace_header(sampled=self.spec.tracing_mode == "Active")
        started = time.monotonic()
        worker, cold = self._acquire()
        if worker is None:
            worker = self._start_worker()
            if worker.init_error is not None:
                self._release(worker)
                error = {**worker.init_error, "requestId": request_id}  # init ran before any request
                return InvokeResult(request_id, False, error, _ms_since(started), True, trace_id)
        try:
            status, payload = worker.invoke(request_id, event, float(self.spec.timeout), trace_id)
        finally:
            self._release(worker)
        elapsed_ms = _ms_since(started)
        if status in ("ok", "error"):
            return InvokeResult(request_id, status == "ok", payload, elapsed_ms, cold, trace_id)
        if self._closed:
            raise PoolClosedError(self.spec.logical_id)
        if status == "timeout":
            self.log(self.spec.logical_id, f"{request_id} Task timed out after {self.spec.timeout:.2f} seconds")
            error = timeout_error(request_id, self.spec.timeout)
        else:
            error = runtime_exit_error(request_id, f"Runtime exited with error: exit status {payload}")
        return InvokeResult(request_id, False, error, elapsed_ms, cold, trace_id)

    def prewarm(self) -> None:
        """Start one execution environment before the first invocation (like provisioned concurrency)."""
        with self._lock:
            if self._closed or self._all or self._starting:
                return
            self._starting += 1
        try:
            worker = self._start_worker()
        except PoolClosedError:
            return
        if worker.init_error is not None:
            self.log(self.spec.logical_id, f"prewarm failed: {worker.init_error.get('errorMessage')}")
        self._release(worker)

    def _start_worker(self) -> Worker:
        """Start an environment the caller reserved (``_starting``) and wait for its init.

        Raises PoolClosedError (the worker disposed) when the pool closed while it started."""
        try:
            worker = Worker(self.spec, self.env, self.log, self.python)
        except Exception:
            with self._lock:
                self._starting -= 1
                self._lock.notify()
            raise
        with self._lock:
            self._starting -= 1
            self._all.add(worker)
            closed = self._closed
        if closed:
            self._release(worker)
            raise PoolClosedError(self.spec.logical_id)
        worker.wait_ready(max(INIT_TIMEOUT_SECONDS, float(self.spec.timeout)))
        if worker.init_error is None:
            with self._lock:
                self.cold_starts += 1
        return worker

    def invoke_async(self, event: Any, request_id: str | None = None) -> Future[InvokeResult]:
        """Start an invocation on its own thread; the future holds the result (or ThrottledError...)."""
        future: Future[InvokeResult] = Future()
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                future.set_result(self.invoke(event, request_id))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True, name=f"invoke-{self.spec.logical_id}").start()
        return future

    def close(self) -> None:
        """Kill every worker, busy or idle; pending and later invocations raise PoolClosedError."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [w for w in self._all if w not in idle]
            self._all.clear()
            self._lock.notify_all()
        for worker in idle:
            worker.dispose()
        for worker in busy:  # their invoking threads see EOF, then dispose of them
            worker.kill()


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
