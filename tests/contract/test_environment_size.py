"""Lambda refuses a function whose environment variables exceed 4 KB: every function must fit, with the names AWS gives.

Every variable in the template's Globals goes to every function, so each new table, queue or parameter costs 14
functions a few dozen bytes. CloudFormation names what the template leaves unnamed `<stack>-<LogicalId>-<suffix>`
(a random suffix of about 13 characters); queue URLs and secret ARNs add the region and account. The local resolver
names them `<stack>-<LogicalId>`, so the suffix is added here to every value that carries the stack name. The size is
taken as Lambda takes it: the variables serialised as a JSON object, in UTF-8.
"""

from __future__ import annotations

import json

import pytest

from local.template import DEFAULT_TEMPLATE, load_template

pytestmark = pytest.mark.contract

LAMBDA_ENVIRONMENT_LIMIT = 4096
#: A long but plausible stack name (CloudFormation allows 128; generated names are truncated well before that).
STACK_NAME = "shiptrack-production-storefront-backends-eu"
REGION = "ap-southeast-2"  # among the longest region names
#: `-` and the random part CloudFormation appends to generated names (and secrets' `-AbCdEf` ARN suffix fits in it).
GENERATED_SUFFIX = "-" + "X" * 13


def _deployed_environment(variables: dict[str, str]) -> dict[str, str]:
    return {key: value + GENERATED_SUFFIX if STACK_NAME in value else value for key, value in variables.items()}


def _size(variables: dict[str, str]) -> int:
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.mark.parametrize("parameters", [{}, {"TracingEnabled": "true", "LogLevel": "DEBUG"}], ids=["default", "prod"])
def test_every_function_environment_fits_lambdas_4_kb(parameters: dict[str, str]) -> None:
    template = load_template(DEFAULT_TEMPLATE, parameters, stack_name=STACK_NAME, region=REGION)
    sizes = {name: _size(_deployed_environment(fn.environment)) for name, fn in template.functions.items()}
    assert sizes, "the template has no functions"
    too_large = {name: size for name, size in sizes.items() if size > LAMBDA_ENVIRONMENT_LIMIT}
    assert not too_large, f"over Lambda's {LAMBDA_ENVIRONMENT_LIMIT} bytes of environment: {too_large}"


def test_the_size_counts_what_lambda_counts() -> None:
    # The measure itself: keys and values, quoted, separated, in UTF-8 bytes; generated names get the suffix.
    assert _size({"A": "é"}) == len('{"A":"é"}'.encode())
    assert _deployed_environment({"T": f"{STACK_NAME}-Table", "N": "7"}) == {
        "T": f"{STACK_NAME}-Table{GENERATED_SUFFIX}",
        "N": "7",
    }
