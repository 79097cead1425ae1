"""Helpers for the CLI tests: run ``shiptrack`` in-process (Click's runner) or as a process, read its output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from shiptrack_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: rich reads these from the environment; the tests decide the terminal themselves.
TERMINAL_ENV: dict[str, str | None] = {
    "COLUMNS": "200",
    "LINES": "50",
    "FORCE_COLOR": None,
    "NO_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "SHIPTRACK_API_URL": None,
    "SHIPTRACK_API_KEY": None,
    "SHIPTRACK_LOCAL_AWS_URL": None,
}


def plain(text: str) -> str:
    """Output without colours and cursor moves."""
    return ANSI.sub("", text)


def run_cli(args: Sequence[str], env: Mapping[str, str | None] | None = None, stdin: str | None = None) -> Result:
    """``shiptrack ARGS`` in this process; stdout and stderr are kept apart (``.stdout``, ``.stderr``)."""
    return CliRunner().invoke(
        cli, list(args), env={**TERMINAL_ENV, **(env or {})}, input=stdin, catch_exceptions=False, prog_name="shiptrack"
    )


def cli_process(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> subprocess.Popen[str]:
    """``python -m shiptrack_cli ARGS`` as a child process (for signals), output piped, text mode.

    The child starts with SIGINT at its default, as a terminal's Ctrl-C finds it: an ignored SIGINT survives
    ``exec``, and a test worker that ignores it (some code under test may) would otherwise hand that on, so the
    child would never see its Ctrl-C."""
    environment = {key: value for key, value in os.environ.items() if key not in TERMINAL_ENV}
    environment["PYTHONPATH"] = f"{ROOT / 'cli'}{os.pathsep}{environment.get('PYTHONPATH', '')}"
    environment.update({key: value for key, value in (env or {}).items() if value is not None})
    # Only an ignored disposition survives exec; a Python handler becomes the default again in the child.
    ignored = (
        signal.getsignal(signal.SIGINT) is signal.SIG_IGN and threading.current_thread() is threading.main_thread()
    )
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "shiptrack_cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=ROOT,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
