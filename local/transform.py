"""The SAM transform, run as CloudFormation runs it: aws-sam-translator turns template.yaml into plain CloudFormation.

The local stack interprets only what the transform produces (functions, event source mappings, rules, the REST API's
generated swagger, permissions ...), so Globals, function events, policy templates, implicit APIs and usage plans mean
locally exactly what they will mean when deployed.

The translator runs in the SAM CLI's own environment (`.tools/`, from `make install`): aws-sam-translator 1.115.0 is
the version SAM CLI 1.170.0 runs, and it pins pydantic below 2.14, which the layer's pydantic 2.14.3 rules out of the
dev venv. It runs offline: a region and the pseudo parameters are given, the managed-policy loader answers `{}`
(policy templates need no AWS call), and every local `CodeUri`/`ContentUri`/`DefinitionUri` is first rewritten to
`s3://LOCAL_CODE_BUCKET/<path relative to the template>`, the shape the transform expects of packaged code, and
mapped back by `local_code_path()`. Results are cached by content in `.local/transform/`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SAM_PYTHON = REPO_ROOT / ".tools" / "uv" / "aws-sam-cli" / "bin" / "python"
SAM_PYTHON_VARIABLE = "LOCAL_SAM_PYTHON"
SAM_TRANSLATOR_VERSION = "1.115.0"  # what SAM CLI 1.170.0 (Makefile's SAM_VERSION) runs
CACHE_DIR = REPO_ROOT / ".local" / "transform"
LOCAL_CODE_BUCKET = "local-code"
SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"

# Runs in the SAM CLI's interpreter: {"template", "parameters", "region"} on stdin, the CloudFormation on stdout.
_TRANSLATE = """
import json, sys
from samtranslator import __version__
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

request = json.load(sys.stdin)
ArnGenerator.BOTO_SESSION_REGION_NAME = request["region"]
output = transform(request["template"], request["parameters"], NoManagedPolicies())
json.dump({"version": __version__, "template": output}, sys.stdout)
"""

# Properties holding a local path that the transform wants as an S3 location, by resource type.
_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class TransformError(ValueError):
    """The SAM transform refused the template, or could not run."""


def is_serverless(template: Mapping[str, Any]) -> bool:
    transforms = template.get("Transform") or []
    return SERVERLESS_TRANSFORM in ([transforms] if isinstance(transforms, str) else transforms)


def _to_s3(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("s3://"):
        return f"s3://{LOCAL_CODE_BUCKET}/{value.strip('/') or '.'}"
    return value


def with_s3_code_uris(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `template` whose local code and definition paths are `s3://LOCAL_CODE_BUCKET/<path>`."""
    out = copy.deepcopy(dict(template))
    function_globals = (out.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = _to_s3(function_globals["CodeUri"])
    for resource in (out.get("Resources") or {}).values():
        prop = _CODE_PROPERTIES.get(str(resource.get("Type")))
        props = resource.get("Properties") or {}
        if prop and prop in props:
            props[prop] = _to_s3(props[prop])
    return out


def local_code_path(location: Any, base_dir: Path) -> Path | None:
    """Map a transformed `Code`/`Content` (`{S3Bucket, S3Key}`) or `s3://` URI back to its local directory."""
    if isinstance(location, str) and location.startswith(f"s3://{LOCAL_CODE_BUCKET}/"):
        key = location.removeprefix(f"s3://{LOCAL_CODE_BUCKET}/")
    elif isinstance(location, Mapping) and location.get("S3Bucket") == LOCAL_CODE_BUCKET:
        key = str(location.get("S3Key"))
    else:
        return None
    return (base_dir / key).resolve()


def sam_python() -> Path:
    return Path(os.environ.get(SAM_PYTHON_VARIABLE) or SAM_PYTHON)


def transform(template: Mapping[str, Any], parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
    """Plain CloudFormation for a SAM template (a template without the Serverless transform is returned as is)."""
    if not is_serverless(template):
        return copy.deepcopy(dict(template))
    request = json.dumps(
        {"template": with_s3_code_uris(template), "parameters": dict(parameters), "region": region},
        sort_keys=True,
        default=str,  # YAML dates and the like: CloudFormation reads them as strings
    )
    cached = CACHE_DIR / f"{hashlib.sha256((SAM_TRANSLATOR_VERSION + request).encode()).hexdigest()}.json"
    if cached.is_file():
        return dict(json.loads(cached.read_text()))
    python = sam_python()
    if not python.is_file():
        raise TransformError(f"the SAM transform runs in the SAM CLI's environment ({python}): run `make install`")
    done = subprocess.run(  # noqa: S603 - the SAM CLI's interpreter and our script
        [str(python), "-c", _TRANSLATE],
        input=request,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": region, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if done.returncode != 0:
        raise TransformError(f"the SAM transform failed: {done.stderr.strip().splitlines()[-1:] or done.stdout}")
    result = json.loads(done.stdout)
    if result["version"] != SAM_TRANSLATOR_VERSION:
        raise TransformError(f"aws-sam-translator {result['version']} in {python}, not {SAM_TRANSLATOR_VERSION}")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(result["template"]))
    partial.replace(cached)  # atomic: parallel test workers may write the same entry
    return dict(result["template"])
