"""Every function starts and runs once with the production parameters, on the layer's own dependencies.

samconfig.toml's prod section is what `sam deploy --config-env prod` deploys (tracing on, among others). The local
stack runs the functions on `.local/runtime` (the layer's lock and the runtime's boto3 only), so an import the layer
cannot satisfy fails here as it would on Lambda's first invocation. With tracing on, each invocation gets a sampled
`_X_AMZN_TRACE_ID` and the functions send their subsegments to the stack's X-Ray daemon sink.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.intrinsics import parse_parameter_overrides
from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE, load_template
from tests.plugins.stack import StackFactory, eventually

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def prod_parameter_overrides() -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return str(config["prod"]["deploy"]["parameters"]["parameter_overrides"])


def sample_event(code_dir: Path) -> Any:
    """The first of the function's sample events (events/<its code folder>/), the contract every test uses."""
    samples = sorted((EVENTS / code_dir.name).glob("*.json"))
    assert samples, f"no sample event for {code_dir.name}"
    return json.loads(samples[0].read_text())


@pytest.fixture(scope="module")
def prod_stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    with local_stack_factory.running(
        DEFAULT_TEMPLATE, name="prod-parameters", env={"LOCAL_PARAMETER_OVERRIDES": prod_parameter_overrides()}
    ) as stack:
        yield stack


def test_the_prod_parameters_turn_tracing_on() -> None:
    overrides = parse_parameter_overrides(prod_parameter_overrides())
    template = load_template(DEFAULT_TEMPLATE, overrides)

    assert overrides["TracingEnabled"] == "true"
    assert {fn.tracing_mode for fn in template.functions.values()} == {"Active"}
    assert {fn.environment["SHIPTRACK_TRACING"] for fn in template.functions.values()} == {"true"}


def test_every_function_initialises_and_runs_once_with_the_prod_parameters(prod_stack: StackProcess) -> None:
    template = load_template(DEFAULT_TEMPLATE, parse_parameter_overrides(prod_parameter_overrides()))
    listed = requests.get(f"{prod_stack.invoke_url}/2015-03-31/functions/", timeout=30).json()["Functions"]
    assert {f["FunctionName"] for f in listed} == set(template.functions)

    failures: dict[str, Any] = {}
    traces: dict[str, str] = {}
    for logical_id, spec in sorted(template.functions.items()):
        response = requests.post(
            f"{prod_stack.invoke_url}/2015-03-31/functions/{logical_id}/invocations",
            data=json.dumps(sample_event(spec.code_uri)),
            timeout=120,
        )
        assert response.status_code == 200, (logical_id, response.text)
        if "X-Amz-Function-Error" in response.headers:
            failures[logical_id] = response.json()  # Runtime.ImportModuleError and friends land here
        traces[logical_id] = response.headers["X-Amzn-Trace-Id"]

    assert failures == {}
    assert all(header.endswith("Sampled=1") for header in traces.values()), traces

    # Each handler ran under Powertools' Tracer: its subsegment reached the daemon with the invocation's trace id.
    roots = {logical_id: header.split(";")[0].removeprefix("Root=") for logical_id, header in traces.items()}

    def traced() -> set[str] | None:
        documents = requests.get(f"{prod_stack.api_url}/_local/xray", timeout=30).json()["documents"]
        seen = {d.get("trace_id") for d in documents if d.get("name") == "## lambda_handler"}
        missing = {logical_id for logical_id, root in roots.items() if root not in seen}
        return None if missing else seen

    eventually(traced, timeout=30)
