"""Cold start: each function's import + first settings load in a fresh interpreter, against a bare ``import boto3``.

Every sample is a new ``python`` child process. The child measures itself with ``time.perf_counter_ns()`` around
``import app`` + ``shiptrack.settings.get_settings()`` (the function) or ``import boto3`` (the baseline), so
interpreter start-up is excluded from both sides. Samples are interleaved in a shuffled order per round, so load
from other work on the machine falls on the functions and on the baseline alike; we report medians and the ratio
of medians.

Layouts measured (each a ``PYTHONPATH`` of layer + function code, with the function's environment from
``template.yaml``):

* ``source``: ``layers/shared`` and ``functions/<dir>`` from the work tree, dependencies from the venv, bytecode
  cached (a warm-up run per function fills a private ``PYTHONPYCACHEPREFIX``; it is not counted);
* ``built``: the layer and functions as ``sam build`` ships them: no ``.pyc``, and Lambda's file system is
  read-only, so every module of the layer (our code, Powertools, pydantic, requests) is compiled at every start;
* ``built+pyc``: the same build after ``compileall --invalidation-mode unchecked-hash`` (what `make build` ships).

The baseline ``import boto3`` always uses the venv's boto3 with its bytecode: on Lambda boto3 comes precompiled
with the runtime, not with our layer.
"""

from __future__ import annotations

import compileall
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import REPO_ROOT

TARGET_RATIO = 2.0
DEFAULT_RUNS = 11
BUILT_LAYER = Path(".aws-sam/build/SharedLayer/python")
SAM = REPO_ROOT / ".tools" / "bin" / "sam"

# Runs in the child. argv: "boto3" or the handler module name. Prints one JSON line.
CHILD = """
import sys, time, json
t0 = time.perf_counter_ns()
c0 = time.process_time_ns()
if sys.argv[1] == "boto3":
    import boto3
else:
    import importlib
    importlib.import_module(sys.argv[1])
    import shiptrack.settings
    shiptrack.settings.get_settings()
elapsed = time.perf_counter_ns() - t0
cpu = time.process_time_ns() - c0
probe = ("boto3", "botocore", "requests", "pydantic", "aws_xray_sdk", "aws_lambda_powertools.event_handler")
loaded = [m for m in probe if m in sys.modules]
print(json.dumps({"ns": elapsed, "cpu_ns": cpu, "loaded": loaded, "modules": len(sys.modules)}))
"""


@dataclass(frozen=True)
class FunctionCode:
    logical_id: str
    code_dir: Path
    module: str
    environment: dict[str, str]


@dataclass(frozen=True)
class Layout:
    """Where the layer and the functions' code come from for one set of measurements."""

    name: str
    layer: Path
    functions: dict[str, Path]  # logical id -> code dir
    bytecode: bool  # False: PYTHONDONTWRITEBYTECODE and no __pycache__ (sam build output as shipped)
    pycache_prefix: Path | None = None


@dataclass
class Row:
    function: str
    layout: str
    median_ms: float
    ratio: float
    samples_ms: list[float]
    loaded: list[str]
    cpu_median_ms: float = 0.0
    cpu_ratio: float = 0.0  # the same ratio on the children's CPU time: less sensitive to other load


@dataclass
class ColdStartResult:
    runs: int
    baseline_ms: dict[str, float]  # per layout: median of the bare import boto3 measured in that layout's rounds
    baseline_samples_ms: dict[str, list[float]]
    rows: list[Row]
    baseline_cpu_ms: dict[str, float]
    import_costs: dict[str, list[tuple[str, float]]]  # function -> [(group, ms)], from -X importtime
    not_measured: dict[str, str] = field(default_factory=dict)  # layout -> reason
    target_ratio: float = TARGET_RATIO
    seconds: float = 0.0

    def met(self, layout: str) -> bool | None:
        rows = [row for row in self.rows if row.layout == layout]
        return all(row.ratio <= self.target_ratio for row in rows) if rows else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def template_functions() -> list[FunctionCode]:
    """Every function of template.yaml: its code directory, handler module and environment (as deployed)."""
    from local.template import load_template

    template = load_template()
    result = []
    for logical_id, spec in sorted(template.functions.items()):
        module = spec.handler.rsplit(".", 1)[0]
        env = dict(spec.environment)
        result.append(FunctionCode(logical_id, Path(spec.code_uri), module, env))
    return result


def _child_env(fn: FunctionCode | None, layout: Layout, code_dir: Path | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONHASHSEED": "0",
    }
    if fn is not None:
        env.update(fn.environment)
    paths = [str(layout.layer)] + ([str(code_dir)] if code_dir else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if layout.bytecode:
        if layout.pycache_prefix is not None:
            env["PYTHONPYCACHEPREFIX"] = str(layout.pycache_prefix)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_child(target: str, env: dict[str, str], *, importtime: bool = False) -> tuple[dict[str, Any], str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD, target]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child for {target} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _sample(fn: FunctionCode | None, layout: Layout) -> dict[str, Any]:
    code_dir = layout.functions.get(fn.logical_id) if fn else None
    env = _child_env(fn, layout, code_dir)
    result, _ = _run_child(fn.module if fn else "boto3", env)
    return result


# -------------------------------------------------------------------------------------------------------- layouts


def _newest_mtime(paths: Sequence[Path]) -> float:
    newest = 0.0
    for root in paths:
        for path in root.rglob("*.py"):
            newest = max(newest, path.stat().st_mtime)
    return newest


def _sam_build(into: Path) -> Path | None:
    """``sam build`` of template.yaml into ``into`` (a private build dir, so the shared .aws-sam is left alone)."""
    if not SAM.exists() or shutil.which("python3.11") is None:
        return None
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(
        [str(SAM), "build", "--build-dir", str(into / "build"), "--cache-dir", str(into / "cache"), "--cached"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        print(f"sam build failed; built layouts not measured:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return None
    return into / "build"


def _native_extensions(layer: Path) -> list[str]:
    """Swap extension modules built for another architecture (the layer is arm64) for this machine's build.

    Only the compiled ``.so`` files are taken from the venv (same package versions: the lock file pins both);
    every ``.py`` file stays the built layer's own, and bytecode compilation only concerns those.
    """
    import sysconfig

    native = str(sysconfig.get_config_var("EXT_SUFFIX"))  # e.g. .cpython-311-x86_64-linux-gnu.so
    site = Path(sysconfig.get_paths()["purelib"])
    swapped = []
    for so in layer.rglob("*.cpython-*.so"):
        if so.name.endswith(native):
            continue
        stem = so.name.split(".cpython-")[0]
        relative = so.parent.relative_to(layer)
        candidate = site / relative / f"{stem}{native}"
        if candidate.exists():
            so.unlink()
            shutil.copy2(candidate, so.parent / candidate.name)
            swapped.append(str(relative / stem))
    return sorted(swapped)


def _strip_bytecode(root: Path) -> None:
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def built_layouts(workdir: Path, functions: Sequence[FunctionCode], *, build: bool | None) -> tuple[list[Layout], str]:
    """The ``built`` and ``built+pyc`` layouts, from a fresh private ``sam build`` or a current ``.aws-sam/build``.

    ``build``: True always builds, False never builds (uses .aws-sam/build if present), None builds when
    .aws-sam/build is missing or older than the layer and function sources.
    """
    existing = REPO_ROOT / ".aws-sam" / "build"
    sources = [REPO_ROOT / "layers" / "shared", *(fn.code_dir for fn in functions)]
    current = (existing / "SharedLayer" / "python").is_dir() and all(
        (existing / fn.logical_id).is_dir() for fn in functions
    )
    if current:
        current = (existing / "SharedLayer").stat().st_mtime >= _newest_mtime(sources)
    source_build: Path | None
    if build or (build is None and not current):
        source_build = _sam_build(workdir / "sam")
        how = "fresh `sam build` of the work tree (private build dir)"
    elif current or build is False:
        source_build = existing if (existing / "SharedLayer" / "python").is_dir() else None
        how = "`.aws-sam/build` (from `make build`)"
    else:
        source_build = None
        how = ""
    if source_build is None:
        return [], "no SAM build available (sam CLI or python3.11 missing, or the build failed)"
    layouts = []
    for name, compiled in (("built", False), ("built+pyc", True)):
        root = workdir / name
        shutil.copytree(source_build / "SharedLayer" / "python", root / "layer")
        swapped = _native_extensions(root / "layer")
        fn_dirs: dict[str, Path] = {}
        for fn in functions:
            src = source_build / fn.logical_id
            if src.is_dir():
                shutil.copytree(src, root / fn.logical_id)
                fn_dirs[fn.logical_id] = root / fn.logical_id
        _strip_bytecode(root)
        if compiled:
            for target in [root / "layer", *fn_dirs.values()]:
                compileall.compile_dir(
                    target,
                    quiet=2,
                    invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH,  # type: ignore[attr-defined]
                    workers=1,
                )
        layouts.append(Layout(name, root / "layer", fn_dirs, bytecode=compiled))
    if swapped:
        how += f"; extension modules swapped for this machine's architecture: {', '.join(swapped)}"
    return layouts, how


def source_layout(workdir: Path, functions: Sequence[FunctionCode]) -> Layout:
    return Layout(
        "source",
        REPO_ROOT / "layers" / "shared",
        {fn.logical_id: fn.code_dir for fn in functions},
        bytecode=True,
        pycache_prefix=workdir / "pycache",
    )


# ----------------------------------------------------------------------------------------------------- importtime


def _import_groups(stderr: str) -> dict[str, float]:
    """Self time per module group from ``-X importtime`` output (ms). Groups: first two dotted parts."""
    groups: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line.replace("import time:", "").split("|"))
        parts = name.split(".")
        group = ".".join(parts[:2]) if parts[0] in {"aws_lambda_powertools", "shiptrack", "trackingmore"} else parts[0]
        groups[group] += int(self_us) / 1000
    return groups


def import_costs(fn: FunctionCode, layout: Layout, runs: int = 3, top: int = 8) -> list[tuple[str, float]]:
    """The module groups a function's cold import spends most time in (median self time over ``runs``)."""
    samples: dict[str, list[float]] = defaultdict(list)
    env = _child_env(fn, layout, layout.functions.get(fn.logical_id))
    baseline, _ = _run_child("boto3", env, importtime=False)  # warm the page cache like the measured runs
    del baseline
    for _ in range(runs):
        _, stderr = _run_child(fn.module, env, importtime=True)
        for group, ms in _import_groups(stderr).items():
            samples[group].append(ms)
    medians = {group: statistics.median(values + [0.0] * (runs - len(values))) for group, values in samples.items()}
    return sorted(((g, round(ms, 1)) for g, ms in medians.items()), key=lambda item: -item[1])[:top]


# ------------------------------------------------------------------------------------------------------------ run


@contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shiptrack-bench-cold-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(
    runs: int = DEFAULT_RUNS,
    *,
    only: Sequence[str] | None = None,
    layouts: Sequence[str] = ("source", "built", "built+pyc"),
    build: bool | None = None,
    importtime_runs: int = 3,
    seed: int = 1,
) -> ColdStartResult:
    """Measure every function (or ``only`` these logical ids) in each layout, ``runs`` rounds, interleaved."""
    started = time.monotonic()
    functions = [fn for fn in template_functions() if not only or fn.logical_id in only]
    not_measured: dict[str, str] = {}
    with _workdir() as workdir:
        chosen: list[Layout] = []
        if "source" in layouts:
            chosen.append(source_layout(workdir, functions))
        if {"built", "built+pyc"} & set(layouts):
            built, how = built_layouts(workdir, functions, build=build)
            if not built:
                for name in ("built", "built+pyc"):
                    if name in layouts:
                        not_measured[name] = how
            chosen += [layout for layout in built if layout.name in layouts]
            if built:
                print(f"cold start: built layouts from {how}")
        for layout in chosen:  # warm-up: fill the bytecode cache (source) and the page cache; not counted
            _sample(None, layout)
            for fn in functions:
                if fn.logical_id in layout.functions:
                    _sample(fn, layout)

        rng = random.Random(seed)
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
        loaded: dict[tuple[str, str], set[str]] = defaultdict(set)
        for round_no in range(runs):
            order: list[tuple[Layout, FunctionCode | None]] = []
            for layout in chosen:
                # The baseline twice per round and layout, so it meets the same noise as the functions around it.
                order += [(layout, None), (layout, None)]
                order += [(layout, fn) for fn in functions if fn.logical_id in layout.functions]
            rng.shuffle(order)
            for layout, target in order:
                result = _sample(target, layout)
                key = (layout.name, target.logical_id if target else "boto3")
                samples[key].append(result["ns"] / 1e6)
                cpu[key].append(result["cpu_ns"] / 1e6)
                loaded[key].update(result["loaded"])
            print(f"cold start: round {round_no + 1}/{runs} done", flush=True)

        baseline = {layout.name: statistics.median(samples[(layout.name, "boto3")]) for layout in chosen}
        baseline_cpu = {layout.name: statistics.median(cpu[(layout.name, "boto3")]) for layout in chosen}
        rows = []
        for layout in chosen:
            for fn in functions:
                key = (layout.name, fn.logical_id)
                if key not in samples:
                    continue
                median = statistics.median(samples[key])
                cpu_median = statistics.median(cpu[key])
                rows.append(
                    Row(
                        function=fn.logical_id,
                        layout=layout.name,
                        median_ms=round(median, 1),
                        ratio=round(median / baseline[layout.name], 2),
                        samples_ms=[round(s, 1) for s in samples[key]],
                        loaded=sorted(loaded[key]),
                        cpu_median_ms=round(cpu_median, 1),
                        cpu_ratio=round(cpu_median / baseline_cpu[layout.name], 2),
                    )
                )
        costs: dict[str, list[tuple[str, float]]] = {}
        if importtime_runs > 0 and chosen and chosen[0].name == "source":
            for fn in functions:
                costs[fn.logical_id] = import_costs(fn, chosen[0], runs=importtime_runs)
    return ColdStartResult(
        runs=runs,
        baseline_ms={k: round(v, 1) for k, v in baseline.items()},
        baseline_samples_ms={layout.name: [round(s, 1) for s in samples[(layout.name, "boto3")]] for layout in chosen},
        rows=rows,
        baseline_cpu_ms={k: round(v, 1) for k, v in baseline_cpu.items()},
        import_costs=costs,
        not_measured=not_measured,
        seconds=round(time.monotonic() - started, 1),
    )
