"""What tracing adds to a cold start: off, Powertools' X-Ray Tracer, and OpenTelemetry as the ADOT Lambda layer runs it.

    python -m bench.tracing --otel-python /path/to/venv/bin/python [--runs 11] [--function TrackingsFunction]

Each sample is a fresh interpreter that times, with ``perf_counter``, what Lambda's init phase runs: the handler
module's import and the first settings load (as ``bench/cold_start.py``), with the function's environment from
template.yaml and Lambda's tracing variables (a sampled ``_X_AMZN_TRACE_ID``, ``AWS_XRAY_CONTEXT_MISSING``):

* ``off``: ``.local/runtime`` (the layer's lock and the runtime's boto3), ``SHIPTRACK_TRACING=false``;
* ``xray``: the same environment, ``SHIPTRACK_TRACING=true`` (Powertools' ``Tracer``: aws-xray-sdk, patched botocore
  and requests);
* ``otel``: ``--otel-python``, an environment with the same packages plus what the ADOT Python layer ships (the
  OpenTelemetry distro and SDK, the OTLP/HTTP exporter, the botocore, requests and Lambda instrumentations, the
  X-Ray propagator and ID generator); before the import, ``auto_instrumentation.initialize()`` runs, as the
  layer's ``AWS_LAMBDA_EXEC_WRAPPER`` does. Nothing is exported during init (spans are batched).

Modes are interleaved in a shuffled order each round; we report medians and their ratio to ``off``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
from pathlib import Path

from bench import REPO_ROOT

CHILD = """
import importlib, json, sys, time
t0, c0 = time.perf_counter_ns(), time.process_time_ns()
if sys.argv[1] == "otel":
    from opentelemetry.instrumentation.auto_instrumentation import initialize
    initialize()
    from opentelemetry import trace
    assert type(trace.get_tracer_provider()).__name__ == "TracerProvider", "OpenTelemetry did not initialise"
importlib.import_module("app")
import shiptrack.settings
shiptrack.settings.get_settings()
elapsed, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - c0
loaded = {"xray": "aws_xray_sdk" in sys.modules, "otel": "opentelemetry.sdk" in sys.modules}
print(json.dumps({"ns": elapsed, "cpu_ns": cpu, **loaded}))
"""
TRACE_ID = "Root=1-6b158c69-0f31aa3f933c15d8fa0abfc0;Parent=12841c4afe4d36d6;Sampled=1"
OTEL_ENV = {  # what the ADOT layer's wrapper sets up, pointed at a collector address nothing listens on
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_PROPAGATORS": "xray",
    "OTEL_PYTHON_ID_GENERATOR": "xray",
    "OTEL_SERVICE_NAME": "shiptrack",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
}


def child_env(function: str, mode: str) -> tuple[dict[str, str], Path]:
    from local.template import load_template

    spec = load_template().functions[function]
    env = {
        **spec.environment,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        "_HANDLER": spec.handler,
        "_X_AMZN_TRACE_ID": TRACE_ID,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "PYTHONPATH": os.pathsep.join([str(spec.code_uri), *(str(p) for p in spec.layer_paths)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # the layer's own code compiles at every start, as shipped without .pyc
        "SHIPTRACK_TRACING": "true" if mode == "xray" else "false",
        "POWERTOOLS_TRACE_DISABLED": "false" if mode == "xray" else "true",
    }
    if mode == "otel":
        env.update(OTEL_ENV)
    return env, spec.code_uri


def sample(python: Path, function: str, mode: str) -> dict[str, object]:
    env, cwd = child_env(function, mode)
    done = subprocess.run(
        [str(python), "-c", CHILD, mode], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__.split("\n")[0])
    parser.add_argument("--otel-python", type=Path, required=True, help="interpreter of the OpenTelemetry venv")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--function", default="TrackingsFunction")
    args = parser.parse_args()
    pythons = {"off": REPO_ROOT / ".local/runtime/bin/python", "xray": REPO_ROOT / ".local/runtime/bin/python"}
    pythons["otel"] = args.otel_python
    for mode, python in pythons.items():  # warm-up (page cache), not counted
        sample(python, args.function, mode)
    samples: dict[str, list[float]] = {mode: [] for mode in pythons}
    cpu: dict[str, list[float]] = {mode: [] for mode in pythons}
    rng = random.Random(1)
    for _ in range(args.runs):
        order = list(pythons)
        rng.shuffle(order)
        for mode in order:
            result = sample(pythons[mode], args.function, mode)
            assert result["xray"] == (mode == "xray"), (mode, result)  # only the X-Ray mode imports the X-Ray SDK
            assert result["otel"] == (mode == "otel"), (mode, result)
            samples[mode].append(float(str(result["ns"])) / 1e6)
            cpu[mode].append(float(str(result["cpu_ns"])) / 1e6)
    base, cpu_base = statistics.median(samples["off"]), statistics.median(cpu["off"])
    for mode, values in samples.items():
        median, cpu_median = statistics.median(values), statistics.median(cpu[mode])
        print(
            f"{args.function} {mode:5} wall {median:7.1f} ms (+{median - base:6.1f}, x{median / base:.2f})"
            f"  cpu {cpu_median:7.1f} ms (+{cpu_median - cpu_base:6.1f}, x{cpu_median / cpu_base:.2f})"
        )


if __name__ == "__main__":
    main()
