"""The command itself: installed as a console script, fast to ask for help, honest about its configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shiptrack_cli import __version__
from tests.cli.conftest import ROOT, run_cli

pytestmark = pytest.mark.unit


def test_make_install_puts_the_console_script_in_the_venv() -> None:
    script = Path(sys.executable).with_name("shiptrack")

    answer = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"shiptrack, version {__version__}"


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\n"
        "from shiptrack_cli.main import cli\n"
        "for args in (['--help'], ['trackings', '--help'], ['import', '--help'], ['events', 'tail', '--help']):\n"
        "    cli(args, standalone_mode=False)\n"
        "heavy = {'requests', 'urllib3', 'rich', 'boto3', 'botocore', 'shiptrack', 'pydantic'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )

    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True, cwd=ROOT / "cli"
    )

    assert answer.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_the_commands_and_the_exit_codes() -> None:
    result = run_cli(["--help"])

    assert result.exit_code == 0
    for command in ("trackings", "import", "imports", "events"):
        assert f"\n  {command} " in result.stdout
    assert "4 import completed with failed rows" in " ".join(result.stdout.split())


def test_help_never_shows_the_api_key_from_the_environment() -> None:
    secret = "prod-key-7d1e0c"

    result = run_cli(["--help"], env={"SHIPTRACK_API_KEY": secret})

    assert secret not in result.output
    assert "local-dev-key" in result.stdout  # the documented default, which is public


def test_the_environment_and_the_options_choose_the_api(tmp_path: Path) -> None:
    from_env = run_cli(["trackings", "list"], env={"SHIPTRACK_API_URL": "http://127.0.0.1:9/env"})
    from_option = run_cli(["--api-url", "http://127.0.0.1:9/opt", "trackings", "list"], env={"SHIPTRACK_API_URL": "x"})

    assert from_env.exit_code == from_option.exit_code == 3
    assert "http://127.0.0.1:9/env" in from_env.stderr
    assert "http://127.0.0.1:9/opt" in from_option.stderr


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["import", str(tmp_path / "nope.csv")])

    assert result.exit_code == 2
    assert "does not exist" in result.stderr
