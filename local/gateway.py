"""API Gateway (REST API, Lambda proxy and mock integrations) in front of the local function pools.

Routes are the methods of the REST APIs' definitions as the SAM transform generated them (`local.template`). Like
API Gateway: an unknown path or method is a 403 `Missing Authentication Token`; a method whose security needs the
API key without a valid `x-api-key` is a 403 `Forbidden`; a function without an `AWS::Lambda::Permission` for API
Gateway is a 500; a handler error or malformed proxy response is a 502; an integration slower than 29 s is a 504; a
body over 10 MB is a 413. Gateway-made answers are rendered from the API's gateway responses (status, headers and
`application/json` template). Mock integrations (SAM's CORS preflights) answer from their integration response.
The stage prefix is optional locally: `/v1/trackings` and `/trackings` reach the same route.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from local.functions import MAX_REQUEST_BYTES, FunctionPool, PoolClosedError, ThrottledError
from local.httpserver import Request, Response
from local.specs import ApiSpec, RouteSpec

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (10 MB)
INTEGRATION_TIMEOUT_SECONDS = 29.0

# Gateway response type → (status, message), as API Gateway answers by default.
GATEWAY_RESPONSES: dict[str, tuple[int, str]] = {
    "API_CONFIGURATION_ERROR": (500, "Internal server error"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "THROTTLED": (429, "Too Many Requests"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
}
_ERROR_TYPES = {
    "API_CONFIGURATION_ERROR": "InternalServerErrorException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "INVALID_API_KEY": "ForbiddenException",
    "REQUEST_TOO_LARGE": "BadRequestException",
    "THROTTLED": "TooManyRequestsException",
    "INTEGRATION_FAILURE": "InternalServerErrorException",
    "INTEGRATION_TIMEOUT": "InternalServerErrorException",
}


@dataclass(frozen=True)
class CompiledRoute:
    spec: RouteSpec
    segments: tuple[str, ...]
    rank: tuple[int, ...]  # per segment: 0 static, 1 {param}, 2 {proxy+}; lower is more specific

    @classmethod
    def of(cls, spec: RouteSpec) -> CompiledRoute:
        segments = tuple(s for s in spec.path.strip("/").split("/") if s)
        rank = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in segments)
        return cls(spec, segments, rank)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if i >= len(parts):
                    return None
                params[segment[1:-2]] = "/".join(parts[i:])
                return params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = parts[i]
            elif segment != parts[i]:
                return None
        return params if len(parts) == len(self.segments) else None


class ApiGateway:
    """A WSGI-free request → response function serving every `Api` route of the template."""

    def __init__(
        self,
        routes: list[RouteSpec],
        apis: Mapping[str, ApiSpec],
        pools: Mapping[str, FunctionPool],
        *,
        api_key: str,
        account_id: str,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
        region: str = "us-east-1",
        permits: Callable[[str, str], bool] | None = None,
        local_routes: Mapping[str, Callable[[Request], Response]] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """`permits(function_id, source_arn)`: whether API Gateway may invoke the function (its Lambda permission)."""
        self.routes = [CompiledRoute.of(r) for r in routes]
        self.apis = dict(apis)
        self.pools = pools
        self.api_key = api_key
        self.account_id = account_id
        self.integration_timeout = integration_timeout
        self.region = region
        self.permits = permits or (lambda function_id, source_arn: True)
        self.local_routes = dict(local_routes or {})
        self.log = log or (lambda line: None)
        stages = {api.stage_name for api in self.apis.values()}
        self._stage_re = (
            re.compile(r"^/(" + "|".join(re.escape(s) for s in sorted(stages)) + r")(/.*|$)") if stages else None
        )

    # -- routing -----------------------------------------------------------------------------------

    def _strip_stage(self, path: str) -> tuple[str, str | None]:
        if self._stage_re:
            match = self._stage_re.match(path)
            if match:
                return match.group(2) or "/", match.group(1)
        return path, None

    def find_route(self, path: str, method: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        parts = [p for p in path.strip("/").split("/") if p]
        candidates = [(r, p) for r in self.routes if (p := r.match(parts)) is not None]
        if not candidates:
            return None
        best_rank = min(r.rank for r, _ in candidates)
        same_resource = [(r, p) for r, p in candidates if r.rank == best_rank]
        for route, params in same_resource:
            if route.spec.method == method:
                return route, params
        for route, params in same_resource:
            if route.spec.method == "ANY":
                return route, params
        return None

    def _route_for(self, raw_path: str, method: str) -> tuple[CompiledRoute, dict[str, str], str | None] | None:
        stripped, stage = self._strip_stage(raw_path)
        if stage is not None:
            found = self.find_route(stripped, method)
            if found:
                return found[0], found[1], stage
        found = self.find_route(raw_path, method)
        return (found[0], found[1], None) if found else None

    # -- gateway responses -------------------------------------------------------------------------

    def gateway_response(self, kind: str, api_id: str | None = None, request_id: str | None = None) -> Response:
        status, message = GATEWAY_RESPONSES[kind]
        api = self.apis.get(api_id or "") or next(iter(self.apis.values()), None)
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", _ERROR_TYPES[kind])]
        if request_id:
            headers.append(("x-amzn-RequestId", request_id))
        body = json.dumps({"message": message}).encode()
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        config = api and (api.gateway_responses.get(kind) or api.gateway_responses.get(family))
        if config:
            for name, value in config.headers.items():
                headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
                headers.append((name, value))
            status = config.status or status
            template = config.templates.get("application/json")
            if template:
                body = (
                    template.replace("$context.error.messageString", json.dumps(message))
                    .replace("$context.error.message", message)
                    .encode()
                )
        return Response(status, body, headers)

    # -- the request path --------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if request.raw_path.startswith("/_local/"):
            handler = self.local_routes.get(request.raw_path.rstrip("/"))
            if handler is None:
                for prefix, candidate in self.local_routes.items():
                    if prefix.endswith("/") and request.raw_path.startswith(prefix):
                        handler = candidate
            if handler is not None:
                return handler(request)
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        response = self._serve(request, request_id)
        self.log(
            f"{request.method} {request.raw_path} → {response.status} ({(time.monotonic() - started) * 1000:.0f} ms)"
        )
        return response

    def _serve(self, request: Request, request_id: str) -> Response:
        found = self._route_for(request.raw_path, request.method)
        if found is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id=request_id)
        route, params, stage_in_path = found
        api = self.apis.get(route.spec.api_id)
        api_id = route.spec.api_id
        if route.spec.api_key_required and request.header("x-api-key") != self.api_key:
            return self.gateway_response("INVALID_API_KEY", api_id, request_id)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _body_over_api_gateway_limit()
        body = request.read_body()
        if len(body) > MAX_BODY_BYTES:
            return _body_over_api_gateway_limit()
        stage = stage_in_path or (api.stage_name if api else "Prod")
        path = self._strip_stage(request.raw_path)[0] if stage_in_path else request.raw_path
        if str(route.spec.integration.get("type", "")).lower() == "mock":
            return _mock_response(route.spec.integration, request_id)
        function_id = route.spec.function_id
        source_arn = f"arn:aws:execute-api:{self.region}:{self.account_id}:{api_id}/{stage}/{request.method}{path}"
        if function_id is not None and not self.permits(function_id, source_arn):
            self.log(f"{function_id}: no AWS::Lambda::Permission lets API Gateway invoke it from {source_arn}")
            return self.gateway_response("API_CONFIGURATION_ERROR", api_id, request_id)
        event = self.proxy_event(request, route, params, body, stage, request_id, api, path)
        if len(json.dumps(event, separators=(",", ":")).encode()) > MAX_REQUEST_BYTES:
            # Under API Gateway's 10 MB, over Lambda's 6 MB: Lambda refuses the invocation, API Gateway says 413.
            return self.gateway_response("REQUEST_TOO_LARGE", api_id, request_id)
        pool = self.pools.get(function_id or "")
        if pool is None:  # not a Lambda integration, or a function not runnable locally (see the stack's log)
            self.log(f"{route.spec.method} {route.spec.path}: {function_id or 'no Lambda integration'} is not running")
            return self.gateway_response("INTEGRATION_FAILURE", api_id, request_id)
        future = pool.invoke_async(event, request_id)
        try:
            result = future.result(timeout=self.integration_timeout)
        except FutureTimeout:
            return self.gateway_response("INTEGRATION_TIMEOUT", api_id, request_id)
        except ThrottledError:
            return self.gateway_response("THROTTLED", api_id, request_id)
        except PoolClosedError:
            return self.gateway_response("INTEGRATION_FAILURE", api_id, request_id)
        if not result.ok:
            error = result.payload if isinstance(result.payload, dict) else {}
            self.log(f"{route.spec.function_id} failed: {error.get('errorType')}: {error.get('errorMessage')}")
            return self.gateway_response("INTEGRATION_FAILURE", api_id, request_id)
        response = self.proxy_response(result.payload, request_id)
        if response is None:
            self.log(f"{route.spec.function_id}: malformed Lambda proxy response: {str(result.payload)[:200]}")
            return self.gateway_response("INTEGRATION_FAILURE", api_id, request_id)
        return response

    def proxy_event(  # noqa: PLR0917
        self,
        request: Request,
        route: CompiledRoute,
        params: dict[str, str],
        body: bytes,
        stage: str,
        request_id: str,
        api: ApiSpec | None,
        path: str,
    ) -> dict[str, Any]:
        """The REST API (payload format 1.0) Lambda proxy event; `path` is the request path without the stage."""
        host = request.header("Host") or "127.0.0.1"
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        forwarded = {
            "X-Forwarded-For": request.client_ip,
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Port": host.rpartition(":")[2] or "80",
        }
        for name, value in forwarded.items():
            if not any(k.lower() == name.lower() for k in headers):
                headers[name] = value
                multi_headers[name] = [value]
        query_pairs = parse_qsl(request.query, keep_blank_values=True)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for key, value in query_pairs:
            query[key] = value
            multi_query.setdefault(key, []).append(value)
        binary = self._is_binary(request, api)
        if not body and request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
            body_value: str | None = None
        elif binary:
            body_value = base64.b64encode(body).decode()
        else:
            try:
                body_value = body.decode("utf-8")
            except UnicodeDecodeError:
                body_value, binary = base64.b64encode(body).decode(), True
        now = time.time()
        api_key = request.header("x-api-key")
        return {
            "resource": route.spec.path,
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": route.spec.api_id.lower(),
                "resourceId": "local",
                "resourcePath": route.spec.path,
                "httpMethod": request.method,
                "path": f"/{stage}{path}",
                "stage": stage,
                "protocol": "HTTP/1.1",
                "domainName": host.partition(":")[0],
                "domainPrefix": host.partition(".")[0].partition(":")[0],
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "identity": {
                    "sourceIp": request.client_ip,
                    "userAgent": request.header("User-Agent"),
                    "apiKey": api_key if route.spec.api_key_required else None,
                    "apiKeyId": "local-api-key-id" if route.spec.api_key_required else None,
                    "accountId": None,
                    "caller": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "principalOrgId": None,
                    "user": None,
                    "userArn": None,
                    "accessKey": None,
                },
            },
            "body": body_value,
            "isBase64Encoded": binary,
        }

    @staticmethod
    def _is_binary(request: Request, api: ApiSpec | None) -> bool:
        if api is None or not api.binary_media_types:
            return False
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        for configured in api.binary_media_types:
            media = configured.lower()
            if media in ("*/*", content_type):
                return True
            if media.endswith("/*") and content_type.startswith(media[:-1]):
                return True
        return False

    @staticmethod
    def proxy_response(payload: Any, request_id: str) -> Response | None:
        """Map a Lambda proxy result back to HTTP; None when API Gateway would call it malformed."""
        if not isinstance(payload, dict):
            return None
        allowed = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}
        if set(payload) - allowed or "statusCode" not in payload:
            return None
        try:
            status = int(payload["statusCode"])
        except (TypeError, ValueError):
            return None
        body = payload.get("body")
        if body is not None and not isinstance(body, str):
            return None
        headers_in = payload.get("headers") or {}
        multi_in = payload.get("multiValueHeaders") or {}
        if not isinstance(headers_in, dict) or not isinstance(multi_in, dict):
            return None
        headers: list[tuple[str, str]] = []
        multi_names = {k.lower() for k in multi_in}
        for name, values in multi_in.items():
            for value in values if isinstance(values, list) else [values]:
                headers.append((str(name), _header_str(value)))
        for name, value in headers_in.items():
            if str(name).lower() not in multi_names:
                headers.append((str(name), _header_str(value)))
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("x-amzn-RequestId", request_id))
        headers.append(("Date", formatdate(usegmt=True)))
        raw = (body or "").encode()
        if payload.get("isBase64Encoded"):
            try:
                raw = base64.b64decode(body or "")
            except ValueError:
                return None
        return Response(status, raw, headers)


def _body_over_api_gateway_limit() -> Response:
    """API Gateway's own answer to a body over 10 MB, before any route or gateway response (as observed)."""
    message = f"HTTP content length exceeded {MAX_BODY_BYTES} bytes."
    return Response(413, message.encode(), [("Content-Type", "text; charset=utf-8")])


def _mock_response(integration: Mapping[str, Any], request_id: str) -> Response:
    """A mock integration's answer: its default integration response's status, static headers and template."""
    default = (integration.get("responses") or {}).get("default") or {}
    headers = [
        (name.removeprefix("method.response.header."), str(value).strip("'"))
        for name, value in (default.get("responseParameters") or {}).items()
        if name.startswith("method.response.header.")
    ]
    body = str((default.get("responseTemplates") or {}).get("application/json") or "")
    return Response(
        int(default.get("statusCode", 200)),
        body.encode(),
        [("Content-Type", "application/json"), *headers, ("x-amzn-RequestId", request_id)],
    )


def _header_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
