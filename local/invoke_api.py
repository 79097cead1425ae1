"""The Lambda Invoke API (`POST /2015-03-31/functions/{FunctionName}/invocations`), as `sam local start-lambda`.

`aws lambda invoke --endpoint-url http://127.0.0.1:3001 --function-name TrackingsFunction out.json` works.
FunctionName is the logical id (its local physical name and ARN work too). Invocation types:
RequestResponse (200, the result; `X-Amz-Function-Error: Unhandled` and the error object when it failed),
Event (202, runs in the background), DryRun (204). `GET /2015-03-31/functions/` lists the functions.
Lambda's payload quotas hold as Lambda answers them: a request over 6,291,456 bytes (256 KB for Event) is a 413
`RequestEntityTooLargeException`; a result over 6,291,556 bytes fails with `Function.ResponseSizeTooLarge`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from local.functions import MAX_REQUEST_BYTES, FunctionPool, PoolClosedError, ThrottledError
from local.httpserver import Request, Response

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_GET = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/?$")
_LIST = re.compile(r"^/2015-03-31/functions/?$")
MAX_ASYNC_PAYLOAD = 256 * 1024


def _error(status: int, error_type: str, message: str) -> Response:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return Response(status, body, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)])


class InvokeApi:
    def __init__(
        self,
        pools: Mapping[str, FunctionPool],
        *,
        region: str,
        account_id: str,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.pools = pools
        self.region = region
        self.account_id = account_id
        self.log = log or (lambda line: None)

    def resolve(self, name: str) -> FunctionPool | None:
        """Logical id, physical name or ARN (`arn:aws:lambda:r:a:function:NAME[:qualifier]`)."""
        name = unquote(name)
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        elif ":" in name:
            name = name.split(":", 1)[0]
        if name in self.pools:
            return self.pools[name]
        return next((p for p in self.pools.values() if p.spec.name == name), None)

    def _describe(self, pool: FunctionPool) -> dict[str, Any]:
        spec = pool.spec
        return {
            "FunctionName": spec.logical_id,
            "FunctionArn": spec.arn,
            "Runtime": spec.runtime,
            "Handler": spec.handler,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory_size,
            "Version": "$LATEST",
            "Environment": {"Variables": pool.env},
            "PackageType": spec.package_type,
            "Architectures": spec.architectures,
        }

    def __call__(self, request: Request) -> Response:
        path = request.raw_path
        if request.method == "GET" and _LIST.match(path):
            functions = [self._describe(p) for p in self.pools.values()]
            return Response(200, json.dumps({"Functions": functions}).encode())
        match = _GET.match(path)
        if request.method == "GET" and match:
            pool = self.resolve(match.group("name"))
            if pool is None:
                return self._not_found(match.group("name"))
            return Response(200, json.dumps({"Configuration": self._describe(pool)}).encode())
        match = _INVOKE.match(path)
        if not match or request.method != "POST":
            return _error(404, "ResourceNotFoundException", f"unknown path {request.method} {path}")
        pool = self.resolve(match.group("name"))
        if pool is None:
            return self._not_found(match.group("name"))
        kind = request.header("X-Amz-Invocation-Type") or "RequestResponse"
        raw = request.read_body()
        if kind == "Event" and len(raw) > MAX_ASYNC_PAYLOAD:
            message = (
                f"{len(raw)} byte payload is too large for the Event invocation type (limit {MAX_ASYNC_PAYLOAD} bytes)"
            )
            return _error(413, "RequestEntityTooLargeException", message)
        if len(raw) > MAX_REQUEST_BYTES:
            message = f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"
            return _error(413, "RequestEntityTooLargeException", message)
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        if kind == "DryRun":
            return Response(204, b"")
        if kind == "Event":
            future = pool.invoke_async(event)

            def report(done: Any) -> None:
                try:
                    result = done.result()
                except (ThrottledError, PoolClosedError) as exc:
                    self.log(f"async {pool.spec.logical_id}: {type(exc).__name__}")
                    return
                if not result.ok:
                    self.log(f"async {pool.spec.logical_id} {result.request_id} failed: {result.payload}")

            future.add_done_callback(report)
            return Response(202, b"", [("Content-Type", "application/json")])
        if kind != "RequestResponse":
            return _error(400, "InvalidParameterValueException", f"Unsupported invocation type {kind}")
        try:
            result = pool.invoke(event)
        except ThrottledError as exc:
            return _error(429, "TooManyRequestsException", str(exc))
        except PoolClosedError:
            return _error(503, "ServiceException", "the local stack is stopping")
        headers = [
            ("Content-Type", "application/json"),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-RequestId", result.request_id),
        ]
        if result.trace_id:
            headers.append(("X-Amzn-Trace-Id", result.trace_id))
        if result.function_error:
            headers.append(("X-Amz-Function-Error", result.function_error))
        self.log(f"invoke {pool.spec.logical_id} → {'ok' if result.ok else 'error'} ({result.duration_ms:.0f} ms)")
        return Response(200, json.dumps(result.payload).encode(), headers)

    def _not_found(self, name: str) -> Response:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{unquote(name)}"
        return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")
