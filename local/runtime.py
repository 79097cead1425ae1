"""The functions' own Python environment: what the Lambda runtime and the layer give them, and nothing else.

On Lambda a function imports from its code, the layer (our packages and the layer's locked dependencies) and the
runtime's boto3/botocore. The dev venv has much more (moto, pytest, aws-xray-sdk for the tests ...), so a package
the layer forgot would import fine there and fail in production. The local stack therefore runs its workers on a
separate virtual environment, `.local/runtime/` (git-ignored), built from:

1. `layers/shared/requirements.txt`, the layer's full hashed lock, installed with `--require-hashes --no-deps`
   (a lock that is not complete fails here, not on Lambda);
2. the Lambda runtime's boto3 and botocore, at the versions `requirements-dev.lock` pins for them, in a second
   command (pip's hash mode would refuse them unhashed in the first).

`python -m local.runtime` builds it when the lock changed (a stamp holds the inputs' digest); `make runtime`, `make
dev` and `make test` call it, and so does the stack fixture of the tests (`ensure_runtime()`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = REPO_ROOT / ".local" / "runtime"
LAYER_LOCK = REPO_ROOT / "layers" / "shared" / "requirements.txt"
DEV_LOCK = REPO_ROOT / "requirements-dev.lock"
# What the Lambda Python runtime ships besides the standard library (the layer must not need anything else).
RUNTIME_PACKAGES = ("boto3", "botocore")
# Overrides the interpreter of the workers (e.g. a venv of your own); the default is this module's environment.
RUNTIME_PYTHON_VARIABLE = "LOCAL_RUNTIME_PYTHON"
_STAMP = ".installed"


class RuntimeEnvError(RuntimeError):
    """The functions' environment cannot be built or found."""


def runtime_python(runtime_dir: Path = RUNTIME_DIR) -> Path:
    """The interpreter the workers run: `$LOCAL_RUNTIME_PYTHON`, else `.local/runtime/bin/python`."""
    override = os.environ.get(RUNTIME_PYTHON_VARIABLE)
    return Path(override) if override else runtime_dir / "bin" / "python"


def runtime_pins(dev_lock: Path = DEV_LOCK) -> list[str]:
    """`boto3==X`, `botocore==Y`: the runtime's SDK at the versions the dev lock pins (pyproject.toml's dev deps)."""
    text = dev_lock.read_text(encoding="utf-8")
    pins = []
    for name in RUNTIME_PACKAGES:
        match = re.search(rf"^{re.escape(name)}==(\S+)", text, re.MULTILINE)
        if match is None:
            raise RuntimeEnvError(f"{dev_lock.name} pins no {name}")
        pins.append(f"{name}=={match.group(1)}")
    return pins


def inputs_digest(layer_lock: Path = LAYER_LOCK, dev_lock: Path = DEV_LOCK) -> str:
    """What the environment is built from: the layer's lock and the runtime pins."""
    digest = hashlib.sha256(layer_lock.read_bytes())
    digest.update("\n".join(runtime_pins(dev_lock)).encode())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def is_current(runtime_dir: Path = RUNTIME_DIR) -> bool:
    stamp = runtime_dir / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == inputs_digest()


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        raise RuntimeEnvError("uv is needed to build .local/runtime (make install puts it in .venv/bin)")
    return found


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603 - uv, fixed arguments
    if done.returncode != 0:
        raise RuntimeEnvError(f"{' '.join(args[:3])} ... failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def build(runtime_dir: Path = RUNTIME_DIR) -> Path:
    """(Re)create the environment from scratch; returns its interpreter."""
    uv = _uv()
    if runtime_dir.exists():
        shutil.rmtree(runtime_dir)
    base = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}") or sys.executable
    _run(uv, "venv", "-q", "--python", base, str(runtime_dir))
    python = str(runtime_dir / "bin" / "python")
    # Bytecode is compiled at install time: the runtime's boto3 and the built layer (`make build`) ship it too.
    common = ("pip", "install", "-q", "--python", python, "--compile-bytecode")
    _run(uv, *common, "--require-hashes", "--no-deps", "-r", str(LAYER_LOCK))
    _run(uv, *common, "--constraint", str(DEV_LOCK), *runtime_pins())
    _run(uv, "pip", "check", "-q", "--python", python)
    (runtime_dir / _STAMP).write_text(inputs_digest() + "\n")
    return runtime_dir / "bin" / "python"


def ensure_runtime(runtime_dir: Path = RUNTIME_DIR) -> Path:
    """The workers' interpreter, building `.local/runtime` first when it is missing or older than the lock.

    Several processes may ask at once (pytest-xdist workers each start stacks): one builds, the others wait."""
    if os.environ.get(RUNTIME_PYTHON_VARIABLE):
        return runtime_python(runtime_dir)
    runtime_dir.parent.mkdir(parents=True, exist_ok=True)
    with (runtime_dir.parent / f"{runtime_dir.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_current(runtime_dir):
            build(runtime_dir)
    return runtime_python(runtime_dir)


def main() -> int:
    try:
        python = ensure_runtime()
    except RuntimeEnvError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"functions run on {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
