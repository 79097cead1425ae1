"""A small client of shiptrack's HTTP API: the API key, timeouts, problem+json errors and ``Retry-After`` retries.

One :class:`ApiClient` per command. Every error status becomes an :class:`~shiptrack_cli.errors.ApiError` carrying
the problem the API sent; a request that gets no HTTP answer becomes an
:class:`~shiptrack_cli.errors.ApiUnreachableError`. ``429``, ``503`` and ``504`` answers that say when to come back
(``Retry-After``) are retried a few times, after waiting that long; POSTs are safe to retry because the commands
send an ``Idempotency-Key`` with them.
"""

from __future__ import annotations

import email.utils
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import requests

from shiptrack_cli import __version__
from shiptrack_cli.errors import ApiError, ApiUnreachableError, CliError

CONNECT_TIMEOUT_SECONDS: Final = 5.0
READ_TIMEOUT_SECONDS: Final = 35.0  # API Gateway gives up after 29 s, so its 504 always arrives before this
RETRY_STATUSES: Final = frozenset({429, 503, 504})
MAX_RETRIES: Final = 3
MAX_RETRY_AFTER_SECONDS: Final = 60.0  # a longer wait is reported instead: the user decides whether to come back

Sleep = Callable[[float], None]
RetryNotice = Callable[[int, float], None]


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` for one run's POST: its retries replay the first answer, never act twice."""
    return f"shiptrack-cli-{uuid.uuid4()}"


class ApiClient:
    """``request`` / ``get_json`` / ``iter_pages`` against ``base_url`` with ``x-api-key: api_key``.

    ``session`` and ``sleep`` are seams for tests; ``on_retry(status, seconds)`` hears about every wait.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        max_retries: int = MAX_RETRIES,
        on_retry: RetryNotice | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update({"x-api-key": api_key, "user-agent": f"shiptrack-cli/{__version__}"})
        self.sleep = sleep
        self.max_retries = max_retries
        self.on_retry = on_retry

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request (retried as the module says) and return a 2xx/3xx answer, or raise."""
        url = self.base_url + path
        query = {key: value for key, value in (params or {}).items() if value is not None}
        retries = 0
        while True:
            response = self._send(method, url=url, params=query, json_body=json_body, body=body, headers=headers)
            if response.status_code < 400:
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if (
                response.status_code in RETRY_STATUSES
                and wait is not None
                and wait <= MAX_RETRY_AFTER_SECONDS
                and retries < self.max_retries
            ):
                retries += 1
                if self.on_retry:
                    self.on_retry(response.status_code, wait)
                self.sleep(wait)
                continue
            raise error_from_response(response, method=method, path=path, retry_after=wait)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET path`` and its JSON body."""
        return self.request("GET", path, params=params).json()

    def iter_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a list route (``{items, next_cursor}``), passing ``next_cursor`` back as ``cursor``."""
        query = dict(params or {})
        seen: set[str] = set()
        while True:
            page: dict[str, Any] = self.get_json(path, query)
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:  # a server bug must not become an endless loop
                raise CliError(f"GET {path} answered a cursor it had already answered; stopping")
            seen.add(cursor)
            query["cursor"] = cursor

    def _send(
        self,
        method: str,
        *,
        url: str,
        params: Mapping[str, Any],
        json_body: Any,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        try:
            return self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=body,
                headers=dict(headers or {}),
                timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise ApiUnreachableError(
                f"no answer from {url} within {READ_TIMEOUT_SECONDS:g} s", hint=_unreachable_hint(self.base_url)
            ) from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
        ) as exc:
            raise CliError(
                f"not a usable API URL: {self.base_url!r}",
                hint="give it whole, e.g. http://127.0.0.1:3000 or https://…/v1",
            ) from exc
        except requests.RequestException as exc:
            raise ApiUnreachableError(
                f"cannot reach the shiptrack API at {self.base_url}: {connection_reason(exc)}",
                hint=_unreachable_hint(self.base_url),
            ) from exc


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_from_response(
    response: requests.Response, *, method: str, path: str, retry_after: float | None = None
) -> ApiError:
    """The :class:`ApiError` for an error answer: its problem+json, or what the body says instead."""
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        problem: dict[str, Any] = parsed
    else:
        text = response.text.strip()
        problem = {"title": response.reason or f"HTTP {response.status_code}", "detail": text[:500]}
    problem.setdefault("status", response.status_code)
    status = response.status_code
    return ApiError(
        status, problem, method=method, path=path, retry_after=retry_after, hint=_hint(status, problem, method, path)
    )


def _hint(status: int, problem: Mapping[str, Any], method: str, path: str) -> str | None:
    code = problem.get("code")
    if status == 403 and (code == "missing_authentication_token" or "Authentication Token" in str(problem)):
        return (
            f"the API has no route {method} {path.partition('?')[0]}: check SHIPTRACK_API_URL / --api-url "
            "(on AWS it ends with the stage, e.g. …/v1), and that this deployment has the route"
        )
    if status == 403:
        return "check the API key: SHIPTRACK_API_KEY or --api-key"
    if status == 413:
        return "the request is too large for the API: split the input into smaller files"
    return None


def _unreachable_hint(base_url: str) -> str:
    if base_url.startswith(("http://127.0.0.1", "http://localhost")):
        return "is the local stack running (`make dev`)? Otherwise set SHIPTRACK_API_URL or --api-url"
    return "check SHIPTRACK_API_URL / --api-url and your network"


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def connection_reason(exc: BaseException) -> str:
    """A short reason from requests' long connection-error text ("Connection refused", …)."""
    match = _ERRNO_TEXT.search(str(exc))
    if match:
        return match.group(1).strip()
    return type(exc).__name__
