"""One Lambda execution environment: a process that imports one handler and runs invocations.

Started by `local.functions.Worker` as `python local/lambda_worker.py` (not `-m`, so the repository root is not
on sys.path: the function sees only its CodeUri, its layers and site-packages, as on Lambda). Standard library
only. Requests arrive as JSON lines on the fd in LOCAL_WORKER_FDS[0]; answers go to LOCAL_WORKER_FDS[1].
stdout/stderr are the function's logs (the stack prefixes them with the function's name).

Messages out:  {"type": "ready", "init_ms": float} | {"type": "init_error", "error": {...}}
               {"type": "result", "id": ..., "ok": true, "result": ...} | {... "ok": false, "error": {...}}
Messages in:   {"id": request id, "event": ..., "deadline_ms": epoch ms, "invoked_function_arn": ..., "trace_id": ...,
                "max_response_bytes": Lambda's response payload limit}
"""

from __future__ import annotations

import os
import sys

# Running as a script put this file's folder (local/) first on sys.path: a function must not see it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import importlib
import json
import logging
import time
import traceback
from typing import Any, BinaryIO


class LambdaContext:
    """The context object Lambda's Python runtime passes to the handler."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = invoked_function_arn
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, msg: str) -> None:
        sys.stdout.write(msg)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},invoked_function_arn={self.invoked_function_arn}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestIdFilter.request_id
        return True


def _install_root_logger() -> None:
    # Like the Python runtime: a handler on the root logger, level left at its default (WARNING).
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    handler.addFilter(_RequestIdFilter())
    logging.Formatter.converter = time.gmtime
    logging.getLogger().addHandler(handler)


def _user_traceback(exc: BaseException) -> Any:
    """The traceback without this bootstrap's own frames (Lambda shows only the function's)."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(__file__):
        tb = tb.tb_next
    return tb


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    frames = traceback.extract_tb(_user_traceback(exc))
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": _RequestIdFilter.request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _result_message(result: Any, max_bytes: int) -> dict[str, Any]:
    """The answer for a handler's return value: the runtime serialises it as JSON; Lambda measures those bytes."""
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as exc:
        error = error_payload(Exception(f"Unable to marshal response: {exc}"), error_type="Runtime.MarshalError")
        return {"ok": False, "error": error}
    if max_bytes and len(text.encode()) > max_bytes:
        message = f"Response payload size exceeded maximum allowed payload size ({max_bytes} bytes)."
        return {"ok": False, "error": {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}}
    return {"ok": True, "result": json.loads(text)}


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _load_handler(spec: str) -> Any:
    module_path, _, attribute = spec.rpartition(".")
    if not module_path:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}") from exc
    except SyntaxError as exc:
        raise _InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {exc}") from exc
    handler = getattr(module, attribute, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'")
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _exit_with_parent() -> None:
    """A worker must not outlive the stack (it runs in its own session, so signals to the stack skip it)."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main() -> None:
    _exit_with_parent()
    read_fd, write_fd = (int(fd) for fd in os.environ.pop("LOCAL_WORKER_FDS").split(","))
    handler_spec = os.environ.get("_HANDLER", "app.lambda_handler")
    requests_in = os.fdopen(read_fd, "rb")
    answers_out = os.fdopen(write_fd, "wb")
    _install_root_logger()

    started = time.perf_counter()
    try:
        handler = _load_handler(handler_spec)
    except _InitError as exc:
        print(f"[ERROR] {exc.error_type}: {exc}", flush=True)
        _send(answers_out, {"type": "init_error", "error": error_payload(exc, exc.error_type)})
        return
    except Exception as exc:  # an exception raised while importing the module (init phase)
        traceback.print_exc()
        _send(answers_out, {"type": "init_error", "error": error_payload(exc)})
        return
    init_ms = (time.perf_counter() - started) * 1000
    _send(answers_out, {"type": "ready", "init_ms": init_ms})

    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    first = True
    for line in requests_in:
        request = json.loads(line)
        request_id = request["id"]
        _RequestIdFilter.request_id = request_id
        if request.get("trace_id"):  # the Python runtime sets it for each invocation; the X-Ray SDK reads it
            os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
        context = LambdaContext(request_id, request["deadline_ms"], request["invoked_function_arn"])
        print(f"START RequestId: {request_id} Version: $LATEST", flush=True)
        t0 = time.perf_counter()
        message: dict[str, Any]
        try:
            result = handler(request["event"], context)
            message = _result_message(result, int(request.get("max_response_bytes") or 0))
        except Exception as exc:
            payload = error_payload(exc)
            print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", flush=True)
            traceback.print_exception(type(exc), exc, _user_traceback(exc))
            message = {"ok": False, "error": payload}
        duration = (time.perf_counter() - t0) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"END RequestId: {request_id}", flush=True)
        report = f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {memory} MB"
        if first:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        print(report, flush=True)
        first = False
        _send(answers_out, {"type": "result", "id": request_id, **message})


if __name__ == "__main__":
    main()
