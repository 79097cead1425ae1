"""The whole service on one machine, from template.yaml: `python -m local.stack` (what `make dev` runs).

Parts, all on loopback (ports: LOCAL_AWS_PORT 5000, LOCAL_SANDBOX_PORT 4010, LOCAL_API_PORT 3000,
LOCAL_LAMBDA_PORT 3001):
* moto server (own process) with every template resource, plus the `local-event-tap` queue fed by a rule on
  each of the template's buses matching `{"source": ["shiptrack"]}`;
* the TrackingMore v2 sandbox (`local.sandbox.SandboxServer`), pushing webhooks to the local webhook route;
* one pool of worker processes per template function (`local.functions`);
* the API Gateway emulator (`local.gateway`) with `GET /_local/health`, and the Lambda Invoke API
  (`local.invoke_api`);
* the event-source glue (`local.glue`): SQS, DynamoDB streams, EventBridge rules to functions, schedules.

In tests: `LocalStack(template_path, api_port=..., ...)` with `.start()`, `.wait_ready()`, `.stop()`.
See docs/local-stack.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import boto3

from local.functions import DEFAULT_MAX_CONCURRENCY, FAKE_CREDENTIALS, FunctionPool, worker_environment
from local.gateway import INTEGRATION_TIMEOUT_SECONDS, ApiGateway
from local.glue import QueueInvokeSource, ScheduleJob, Scheduler, SqsEventSource, StreamEventSource
from local.httpserver import HttpServer, Request, Response
from local.intrinsics import DEFAULT_REGION, parse_parameter_overrides, read_yaml
from local.invoke_api import InvokeApi
from local.resources import LOCAL_SECRET_VALUES, ResourceNames, _target, make_clients, provision
from local.runtime import ensure_runtime, runtime_python
from local.specs import EventSourceMappingSpec, FunctionSpec
from local.template import DEFAULT_TEMPLATE, Template, load_template
from local.xray import XRayDaemon

TAP_QUEUE = "local-event-tap"
TAP_RULE = "local-event-tap"
TAP_PATTERN = {"source": ["shiptrack"]}
WEBHOOK_TOKEN = LOCAL_SECRET_VALUES["webhook_token"]
#: Template parameters the local stack runs with unless overridden (LOCAL_PARAMETER_OVERRIDES, --parameter-overrides),
#: applied to templates that declare them: storefront webhook retries at a hundredth of their AWS delays (the first
#: within a second or two), and webhook receivers on loopback allowed (docs/local-stack.md).
LOCAL_PARAMETER_DEFAULTS = {"WebhookRetryScale": "0.01", "WebhookAllowLoopback": "true"}


def local_parameters(template_path: Path, overrides: Mapping[str, str]) -> dict[str, str]:
    """:data:`LOCAL_PARAMETER_DEFAULTS` the template declares, then ``overrides``."""
    declared = read_yaml(template_path).get("Parameters") or {}
    return {**{k: v for k, v in LOCAL_PARAMETER_DEFAULTS.items() if k in declared}, **overrides}


class StackError(RuntimeError):
    """The local stack cannot start."""


@dataclass
class StackConfig:
    template_path: Path = DEFAULT_TEMPLATE
    host: str = "127.0.0.1"
    aws_port: int = 5000
    sandbox_port: int = 4010
    api_port: int = 3000
    lambda_port: int = 3001
    api_key: str = "local-dev-key"
    schedule_seconds: float = 60.0
    sandbox: bool = True
    sandbox_seed: int = 7
    upstream_latency: str = "realistic"  # the sandbox's latency profile, NAME[:SCALE] (docs/sandbox.md)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS
    sqs_retry_seconds: int = 1
    region: str = DEFAULT_REGION
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    verbose: bool = False
    prewarm: bool = False

    ENV: dict[str, str] = field(
        default_factory=lambda: {
            "aws_port": "LOCAL_AWS_PORT",
            "sandbox_port": "LOCAL_SANDBOX_PORT",
            "api_port": "LOCAL_API_PORT",
            "lambda_port": "LOCAL_LAMBDA_PORT",
            "api_key": "LOCAL_API_KEY",
            "schedule_seconds": "LOCAL_SCHEDULE_SECONDS",
            "sandbox": "LOCAL_SANDBOX",
            "sandbox_seed": "LOCAL_SANDBOX_SEED",
            "upstream_latency": "LOCAL_UPSTREAM_LATENCY",
            "max_concurrency": "LOCAL_MAX_CONCURRENCY",
            "integration_timeout": "LOCAL_API_TIMEOUT_SECONDS",
            "sqs_retry_seconds": "LOCAL_SQS_RETRY_SECONDS",
            "verbose": "LOCAL_VERBOSE",
            "prewarm": "LOCAL_PREWARM",
        },
        repr=False,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> StackConfig:
        """Defaults, then LOCAL_* variables, then explicit keyword overrides."""
        environ = os.environ if environ is None else environ
        config = cls()
        types = {f.name: f.type for f in fields(cls)}
        for name, variable in config.ENV.items():
            raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            kind = types[name]
            if kind in ("int", int):
                setattr(config, name, int(raw))
            elif kind in ("float", float):
                setattr(config, name, float(raw))
            elif kind in ("bool", bool):
                setattr(config, name, raw.strip().lower() not in ("0", "false", "no", "off"))
            else:
                setattr(config, name, raw)
        if environ.get("LOCAL_PARAMETER_OVERRIDES"):
            config.parameter_overrides = parse_parameter_overrides(environ["LOCAL_PARAMETER_OVERRIDES"])
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, Path(value) if name == "template_path" else value)
        return config


class Console:
    """Thread-safe line output: `[name] line`, with colours on a terminal."""

    COLOURS = (36, 35, 33, 32, 34, 91, 92, 93, 94, 95, 96)

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._colours: dict[str, int] = {}
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, name: str, text: str) -> None:
        prefix = f"[{name}]"
        if self.tty:
            colour = self._colours.setdefault(name, self.COLOURS[len(self._colours) % len(self.COLOURS)])
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self._lock:
            try:
                self.stream.write(f"{prefix} {text}\n")
                self.stream.flush()
            except (ValueError, OSError):
                pass

    def raw(self, text: str) -> None:
        with self._lock:
            self.stream.write(text)
            self.stream.flush()


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _load_sandbox_class() -> Any:
    try:
        from local.sandbox import SandboxServer
    except ImportError as exc:
        raise StackError(
            f"the TrackingMore sandbox (local.sandbox.SandboxServer) cannot be imported: {exc}. "
            "Start without it with LOCAL_SANDBOX=0 (functions then use TrackingMoreBaseUrl from the template)."
        ) from exc
    return SandboxServer


class LocalStack:
    """Every part of the local stack, started and stopped together."""

    def __init__(
        self,
        template_path: str | Path | None = None,
        *,
        config: StackConfig | None = None,
        console: Console | None = None,
        **overrides: Any,
    ) -> None:
        self.config = config or StackConfig.from_env(template_path=template_path, **overrides)
        if config is not None and template_path is not None:
            self.config.template_path = Path(template_path)
        c = self.config
        for name in ("aws_port", "sandbox_port", "api_port", "lambda_port"):
            if getattr(c, name) == 0:
                setattr(c, name, free_port(c.host))
        self.console = console or Console()
        self.template: Template = load_template(
            c.template_path,
            local_parameters(c.template_path, c.parameter_overrides),
            region=c.region,
            aws_endpoint=self.aws_endpoint,
        )
        self.parts: dict[str, str] = {
            "aws": "starting",
            "sandbox": "starting" if c.sandbox else "disabled",
            "functions": "starting",
            "api": "starting",
            "invoke": "starting",
            "event_sources": "starting",
        }
        self.pools: dict[str, FunctionPool] = {}
        self.python = runtime_python()  # the functions' interpreter (local/runtime.py), checked by start()
        self.skipped_functions: dict[str, str] = {}
        self.names: ResourceNames | None = None
        self.sandbox: Any = None
        self.scheduler: Scheduler | None = None
        self._pollers: list[Any] = []
        self._servers: list[HttpServer] = []
        self._moto: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._started = False
        self.api_server: HttpServer | None = None
        self.xray: XRayDaemon | None = None

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.api_port}"

    @property
    def invoke_url(self) -> str:
        return f"http://{self.config.host}:{self.config.lambda_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.config.aws_port}"

    @property
    def sandbox_url(self) -> str | None:
        if self.sandbox is not None:
            return str(getattr(self.sandbox, "base_url", f"http://{self.config.host}:{self.config.sandbox_port}/v2"))
        return None

    @property
    def webhook_url(self) -> str:
        return f"{self.api_url}/webhooks/trackingmore/{WEBHOOK_TOKEN}"

    @property
    def stage(self) -> str | None:
        return next((api.stage_name for api in self.template.apis.values()), None)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def log(self, text: str) -> None:
        self.console.line("stack", text)

    def boto3_session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.config.region,
        )

    def client(self, service: str) -> Any:
        return self.boto3_session().client(service, endpoint_url=self.aws_endpoint)  # type: ignore[call-overload]

    # -- start -------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start every part; returns when all are up (raises StackError and cleans up otherwise)."""
        if self._started:
            raise StackError("already started")
        self._started = True
        c = self.config
        for name in ("aws_port", "api_port", "lambda_port", *(("sandbox_port",) if c.sandbox else ())):
            if not _port_free(c.host, getattr(c, name)):
                raise StackError(f"port {getattr(c, name)} ({name}) on {c.host} is in use; set LOCAL_{name.upper()}")
        try:
            self.python = ensure_runtime()
            self.xray = XRayDaemon(c.host).start()
            self._start_api()
            self._start_moto()
            self.names = self._provision()
            self.parts["aws"] = "ok"
            self._start_sandbox()
            self._create_pools()
            self._start_invoke_api()
            self._start_event_sources()
        except BaseException:
            self.stop()
            raise
        self._ready.set()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until `GET /_local/health` answers 200 (for a stack started elsewhere, or on another thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._stopped.is_set():
                raise StackError("stack stopped before it was ready")
            try:
                with urllib.request.urlopen(f"{self.api_url}/_local/health", timeout=2) as response:  # noqa: S310 - http loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise StackError(f"not ready within {timeout:.0f} s: {self.parts}")

    def _start_api(self) -> None:
        c = self.config
        local_routes = {
            "/_local/health": self._health,
            "/_local/schedules/": self._fire_schedule,
            "/_local/xray": self._xray_documents,
        }
        self.gateway = ApiGateway(
            self.template.routes,
            self.template.apis,
            self.pools,
            api_key=c.api_key,
            account_id=self.template.account_id,
            integration_timeout=c.integration_timeout,
            region=c.region,
            permits=lambda function_id, source_arn: self.template.invoke_permitted(
                function_id, "apigateway.amazonaws.com", source_arn
            ),
            local_routes=local_routes,
            log=(lambda line: self.console.line("api", line)),
        )
        self.api_server = HttpServer(c.host, c.api_port, self.gateway, "api")
        self.api_server.start()
        self._servers.append(self.api_server)
        self.parts["api"] = "ok"

    def _start_moto(self) -> None:
        c = self.config
        self._moto = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "local.moto_process", c.host, str(c.aws_port)],
            stdin=subprocess.PIPE,
            stdout=None if c.verbose else subprocess.DEVNULL,
            stderr=None if c.verbose else subprocess.DEVNULL,
            cwd=str(Path(__file__).resolve().parent.parent),
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._moto.poll() is not None:
                raise StackError(f"moto server exited with {self._moto.returncode} (port {c.aws_port})")
            try:
                with urllib.request.urlopen(f"{self.aws_endpoint}/moto-api/data.json", timeout=1):  # noqa: S310 - http loopback
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise StackError(f"moto server did not answer on {self.aws_endpoint} within 30 s")

    def _provision(self) -> ResourceNames:
        for logical_id, resource_type in self.template.unsupported().items():
            self.log(f"{logical_id}: {resource_type} has no local behaviour; skipped")
        session = self.boto3_session()
        names = provision(self.template, session, endpoint_url=self.aws_endpoint)
        clients = make_clients(session, self.aws_endpoint)
        # The tap: every outbound event of the project's bus(es) lands in a queue a person can read.
        tap_url = clients.sqs.create_queue(QueueName=TAP_QUEUE)["QueueUrl"]
        tap_arn = clients.sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.tap_queue_url = tap_url
        for bus in self.template.buses.values():
            clients.events.put_rule(Name=TAP_RULE, EventBusName=bus.name, EventPattern=json.dumps(TAP_PATTERN))
            clients.events.put_targets(Rule=TAP_RULE, EventBusName=bus.name, Targets=[{"Id": "tap", "Arn": tap_arn}])
        self.log(
            f"moto on {self.aws_endpoint}: {len(names.tables)} table(s), {len(names.queues)} queue(s), "
            f"{len(names.buses)} bus(es), {len(names.rules)} rule(s), {len(names.secrets)} secret(s), tap {TAP_QUEUE}"
        )
        return names

    def _start_sandbox(self) -> None:
        c = self.config
        if not c.sandbox:
            return
        sandbox_class = _load_sandbox_class()
        self.sandbox = sandbox_class(
            host=c.host,
            port=c.sandbox_port,
            seed=c.sandbox_seed,
            api_key=LOCAL_SECRET_VALUES["api_key"],
            email=LOCAL_SECRET_VALUES["account_email"],
            webhook_url=self.webhook_url,
            latency=c.upstream_latency,
        )
        self.sandbox.start()
        self.parts["sandbox"] = "ok"
        self.log(
            f"TrackingMore sandbox on {self.sandbox_url} (latency {c.upstream_latency}), webhooks to {self.webhook_url}"
        )

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        extra = {}
        if self.xray is not None:
            extra["AWS_XRAY_DAEMON_ADDRESS"] = self.xray.address
        if self.sandbox_url:
            extra["TRACKINGMORE_BASE_URL"] = self.sandbox_url
        return worker_environment(spec, region=self.config.region, aws_endpoint=self.aws_endpoint, extra=extra)

    def _create_pools(self) -> None:
        for logical_id, spec in self.template.functions.items():
            reason = None
            if spec.package_type != "Zip":
                reason = f"PackageType {spec.package_type}"
            elif not spec.runtime.startswith("python"):
                reason = f"runtime {spec.runtime!r}"
            elif not spec.handler:
                reason = "no Handler"
            if reason:
                self.skipped_functions[logical_id] = reason
                self.log(f"{logical_id}: not run locally ({reason})")
                continue
            concurrency = self.config.max_concurrency
            if spec.reserved_concurrency is not None:
                concurrency = max(1, min(concurrency, spec.reserved_concurrency))
            env = self.function_environment(spec)
            self.pools[logical_id] = FunctionPool(
                spec, env, self.console.line, python=self.python, max_concurrency=concurrency
            )
        if self.config.prewarm:
            for pool in self.pools.values():
                threading.Thread(target=pool.prewarm, daemon=True, name=f"prewarm-{pool.spec.logical_id}").start()
        self.parts["functions"] = "ok"

    def _start_invoke_api(self) -> None:
        c = self.config
        api = InvokeApi(
            self.pools,
            region=c.region,
            account_id=self.template.account_id,
            log=(lambda line: self.console.line("invoke", line)),
        )
        server = HttpServer(c.host, c.lambda_port, api, "invoke")
        server.start()
        self._servers.append(server)
        self.parts["invoke"] = "ok"

    def _start_event_sources(self) -> None:
        assert self.names is not None
        c = self.config
        session = self.boto3_session()
        sqs = session.client("sqs", endpoint_url=self.aws_endpoint)
        events = session.client("events", endpoint_url=self.aws_endpoint)
        streams = session.client("dynamodbstreams", endpoint_url=self.aws_endpoint)
        for mapping in self.template.event_source_mappings:
            pool = self.pools.get(mapping.function_id)
            if pool is not None and mapping.enabled:
                self._pollers.append(self._mapping_source(pool, mapping, sqs, streams))
        schedules = []
        for rule_id, target in self.names.function_targets:
            rule = self.template.rules[rule_id]
            function_id = self.template.function_for_arn(str(target.get("Arn")))
            if function_id not in self.pools:
                continue
            principal = "scheduler.amazonaws.com" if rule.scheduler else "events.amazonaws.com"
            if not rule.scheduler and not self.template.invoke_permitted(function_id, principal, rule.arn):
                self.log(f"{rule_id} → {function_id}: no AWS::Lambda::Permission for {principal}; never invoked")
            elif rule.schedule_expression:
                schedules.append(ScheduleJob(self.pools[function_id], rule, target))
            else:
                pool = self.pools[function_id]
                self._pollers.append(self._queue_for_rule(pool, rule.name, rule.event_bus_name, target, sqs, events))
        self.scheduler = Scheduler(
            schedules, interval=c.schedule_seconds, region=c.region, account_id=self.template.account_id, log=self.log
        )
        self._pollers = [source for source in self._pollers if source is not None]
        self._pollers.append(self.scheduler)
        for poller in self._pollers:
            poller.start()
        for poller in self._pollers:
            if not poller.ready.wait(30):
                raise StackError(f"event source {poller.name} did not start")
        self.parts["event_sources"] = "ok"

    def _mapping_source(self, pool: FunctionPool, mapping: EventSourceMappingSpec, sqs: Any, streams: Any) -> Any:
        """The poller of an event source mapping: an SQS queue or a DynamoDB stream of the template."""
        assert self.names is not None
        c = self.config
        source_id = self.template.logical_id_for_arn(mapping.source_arn)
        if source_id in self.names.queues:
            created = self.names.queues[source_id]
            return SqsEventSource(
                pool,
                mapping,
                queue_url=created.url,
                queue_arn=created.arn,
                sqs=sqs,
                region=c.region,
                retry_seconds=c.sqs_retry_seconds,
                log=self.log,
            )
        if source_id in self.names.table_stream_arns:
            stream_arn = self.names.table_stream_arns[source_id]
            return StreamEventSource(
                pool, mapping, stream_arn=stream_arn, streams=streams, sqs=sqs, region=c.region, log=self.log
            )
        self.log(f"{mapping.logical_id}: {mapping.source_arn} is not a queue or table stream of the template; skipped")
        return None

    def _queue_for_rule(  # noqa: PLR0917
        self, pool: FunctionPool, rule_name: str, bus: str, target: Mapping[str, Any], sqs: Any, events: Any
    ) -> Any:
        queue_name = re.sub(r"[^A-Za-z0-9_-]", "-", f"local-rule-{rule_name}-{target.get('Id', 'fn')}")[:80]
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=rule_name, EventBusName=bus, Targets=[_target({**target, "Arn": arn})])
        return QueueInvokeSource(
            pool, rule_name, queue_url=url, sqs=sqs, retry_seconds=self.config.sqs_retry_seconds, log=self.log
        )

    # -- /_local routes ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        ok = self.ready and all(v in ("ok", "disabled") for v in self.parts.values())
        return {
            "status": "ok" if ok else "starting",
            **self.parts,
            "functions_running": sorted(self.pools),
            "functions_skipped": self.skipped_functions,
            "urls": {
                "api": self.api_url,
                "invoke": self.invoke_url,
                "aws": self.aws_endpoint,
                "sandbox": self.sandbox_url,
            },
        }

    def _health(self, request: Request) -> Response:
        body = self.health()
        return Response(200 if body["status"] == "ok" else 503, json.dumps(body).encode())

    def _xray_documents(self, request: Request) -> Response:
        """GET /_local/xray: the segment documents the functions sent to the local X-Ray daemon."""
        documents = self.xray.documents() if self.xray is not None else []
        return Response(200, json.dumps({"documents": documents}).encode())

    def _fire_schedule(self, request: Request) -> Response:
        """POST /_local/schedules/{FunctionId}[/{EventName}]: run a scheduled function now, wait for it.

        EventName is the SAM event's name (its rule is `{FunctionId}{EventName}`) or the rule's logical id."""
        parts = [p for p in request.raw_path.split("/") if p][2:]
        if request.method != "POST" or not parts or self.scheduler is None:
            return Response(404, b'{"message": "POST /_local/schedules/{FunctionId}[/{EventName}]"}')
        jobs = [job for job in self.scheduler.jobs if job.pool.spec.logical_id == parts[0]]
        if len(parts) > 1:
            jobs = [job for job in jobs if job.rule.logical_id in (parts[1], parts[0] + parts[1])]
        if not jobs:
            return Response(404, json.dumps({"message": f"no schedule {'/'.join(parts)}"}).encode())
        result = self.scheduler.fire(jobs[0], wait=True)
        if result is None:
            return Response(409, b'{"message": "previous run still going"}')
        return Response(200, json.dumps({"ok": result.ok, "payload": result.payload}).encode())

    # -- stop --------------------------------------------------------------------------------------

    def stop(self, timeout: float = 4.0) -> None:
        """Stop everything — event sources, workers, servers, sandbox, moto — in parallel, within `timeout`.

        Idempotent. Parts still busy at the deadline are daemon threads or killed processes: nothing outlives it.
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._ready.clear()
        deadline = time.monotonic() + timeout
        for poller in self._pollers:
            poller.stop()
        jobs: list[tuple[str, Any]] = [(f"pool {name}", pool.close) for name, pool in self.pools.items()]
        jobs += [(f"server {server.name}", server.stop) for server in self._servers]
        if self.sandbox is not None:
            jobs.append(("sandbox", self.sandbox.stop))
        if self.xray is not None:
            jobs.append(("xray", self.xray.stop))
        jobs.append(("moto", lambda: self._stop_moto(deadline)))
        threads = []
        for name, job in jobs:

            def run(name: str = name, job: Any = job) -> None:
                try:
                    job()
                except Exception as exc:
                    self.log(f"stopping {name}: {type(exc).__name__}: {exc}")

            thread = threading.Thread(target=run, daemon=True, name=f"stop-{name}")
            thread.start()
            threads.append((name, thread))
        for name, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self.log(f"stopping {name}: still busy at the deadline; left behind")
        for poller in self._pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def _stop_moto(self, deadline: float) -> None:
        moto = self._moto
        if moto is None:
            return
        if moto.poll() is None:
            moto.terminate()
            try:
                moto.wait(timeout=max(0.1, deadline - time.monotonic() - 1))
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.wait(timeout=1)
        if moto.stdin:
            with contextlib.suppress(OSError):
                moto.stdin.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- banner ------------------------------------------------------------------------------------

    def banner(self) -> str:
        c = self.config
        stage = self.stage
        base = f"{self.api_url}/{stage}" if stage else self.api_url
        key = c.api_key
        tap_url = f"{self.aws_endpoint}/{self.template.account_id}/{TAP_QUEUE}"
        lines = [
            "",
            "shiptrack local stack is up (Ctrl-C stops everything)",
            "",
            f"  API             {base}   (x-api-key: {key}; the stage prefix is optional)",
            f"  Lambda invoke   {self.invoke_url}",
            f"    aws lambda invoke --endpoint-url {self.invoke_url} --function-name <LogicalId> out.json",
            f"  AWS (moto)      {self.aws_endpoint}",
            f"  TrackingMore    {self.sandbox_url or 'sandbox disabled'}",
            f"  Health          {self.api_url}/_local/health",
            f"  Functions       {', '.join(sorted(self.pools)) or '(none in the template yet)'}",
            "",
            "  Try:",
            f"    curl -s -X POST {base}/trackings -H 'x-api-key: {key}' -H 'content-type: application/json' \\",
            '         -d \'{"tracking_number": "9400111899223344556677", "carrier_code": "usps"}\'',
            f"    curl -s {base}/trackings/usps/9400111899223344556677 -H 'x-api-key: {key}'",
            f"    curl -s -X POST http://{c.host}:{c.sandbox_port}/_sandbox/advance \\",
            "         -H 'content-type: application/json' -d '{\"hours\": 24}'",
            "",
            f"  Outbound events go to the SQS queue {TAP_QUEUE}:",
            f"    python -m local.tap --endpoint-url {self.aws_endpoint}",
            f"    aws sqs receive-message --endpoint-url {self.aws_endpoint} --queue-url {tap_url} \\",
            "         --max-number-of-messages 10 --wait-time-seconds 10",
            "",
        ]
        return "\n".join(lines) + "\n"


class StackProcess:
    """`python -m local.stack` as a child process (for tests and benchmarks): free ports, logs to a file."""

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        *,
        env: Mapping[str, str] | None = None,
        log_path: str | Path | None = None,
        sandbox: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.template_path = Path(template_path)
        self.host = host
        self.ports = {name: free_port(host) for name in ("aws", "sandbox", "api", "lambda")}
        self.env = {
            "LOCAL_UPSTREAM_LATENCY": "none",  # a stack started from code asks for upstream latency explicitly
            **{k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")},
            "LOCAL_AWS_PORT": str(self.ports["aws"]),
            "LOCAL_SANDBOX_PORT": str(self.ports["sandbox"]),
            "LOCAL_API_PORT": str(self.ports["api"]),
            "LOCAL_LAMBDA_PORT": str(self.ports["lambda"]),
            "LOCAL_SANDBOX": "1" if sandbox else "0",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        repo = str(Path(__file__).resolve().parent.parent)
        self.env["PYTHONPATH"] = os.pathsep.join([str(Path(repo) / "layers" / "shared"), repo])
        self.api_key = self.env.get("LOCAL_API_KEY") or "local-dev-key"
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.health: dict[str, Any] = {}

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.ports['api']}"

    @property
    def invoke_url(self) -> str:
        return f"http://{self.host}:{self.ports['lambda']}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['aws']}"

    @property
    def sandbox_url(self) -> str | None:
        url = (self.health.get("urls") or {}).get("sandbox")
        return str(url) if url else None

    @property
    def sandbox_control_url(self) -> str:
        """The sandbox's own root (its `/_sandbox/...` control endpoints)."""
        return f"http://{self.host}:{self.ports['sandbox']}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def start(self) -> StackProcess:
        if self.log_path:
            self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "local.stack", "--template", str(self.template_path)],
            env=self.env,
            cwd=str(Path(__file__).resolve().parent.parent),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 90.0) -> dict[str, Any]:
        """Poll `GET /_local/health` until 200; raises StackError (with the logs) if it exits or times out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"local stack exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/_local/health", timeout=2) as response:  # noqa: S310 - http loopback
                    if response.status == 200:
                        self.health = json.loads(response.read())
                        return self.health
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.1)
        raise StackError(f"local stack not ready within {timeout:.0f} s:\n{self.logs()[-4000:]}")

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM, wait (then SIGKILL). Returns the seconds it took to exit."""
        started = time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        elapsed = time.monotonic() - started
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return elapsed

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's moto."""
        return boto3.session.Session(region_name=DEFAULT_REGION).client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def __enter__(self) -> StackProcess:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("--template", default=str(DEFAULT_TEMPLATE), help="SAM template (default: the repository's)")
    parser.add_argument("--parameter-overrides", default=None, help="Key=Value pairs, as for sam")
    parser.add_argument("--no-sandbox", action="store_true", help="do not start the TrackingMore sandbox")
    parser.add_argument("--verbose", action="store_true", help="show moto's own output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    overrides: dict[str, Any] = {"template_path": args.template}
    if args.parameter_overrides:
        overrides["parameter_overrides"] = parse_parameter_overrides(args.parameter_overrides)
    if args.no_sandbox:
        overrides["sandbox"] = False
    if args.verbose:
        overrides["verbose"] = True
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(variable, None)  # the stack talks to its own moto only
    stop_requested = threading.Event()  # set by the starter thread when the stack cannot start
    signalled: list[int] = []

    def request_stop(signum: int, frame: Any) -> None:
        # No lock here (Event.set() takes one): a handler runs between two bytecodes of the main thread, possibly
        # inside the handler of the signal before. make forwards the TERM it gets, so two arrive at once, and
        # stop_requested.set() here deadlocked about one stop in fifteen (then SIGKILL).
        signalled.append(signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    console = Console()
    try:
        stack = LocalStack(config=StackConfig.from_env(**overrides), console=console)
    except Exception as exc:
        console.line("stack", f"cannot load the template: {exc}")
        return 2
    starter = threading.Thread(target=_start_into, args=(stack, stop_requested), daemon=True)
    starter.start()
    # Poll: the handler only records the signal, and the main thread must not block without a timeout (it runs the
    # Python handlers, only between bytecodes).
    while not signalled and not stop_requested.wait(timeout=0.2):
        pass
    started_stopping = time.monotonic()
    stack.log("stopping")
    stack.stop()
    stack.log(f"stopped in {time.monotonic() - started_stopping:.1f} s")
    return 1 if getattr(stack, "start_error", None) else 0


def run() -> None:
    """Entry point: exit at once after stopping (daemon threads of servers must not delay the exit)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _start_into(stack: LocalStack, stop_requested: threading.Event) -> None:
    try:
        stack.start()
    except Exception as exc:
        stack.start_error = exc  # type: ignore[attr-defined]
        stack.log(f"cannot start: {exc}")
        stop_requested.set()
        return
    stack.console.raw(stack.banner())


if __name__ == "__main__":
    run()
