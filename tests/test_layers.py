"""The layers of torchlab hold: `lint-imports` checks the contracts of pyproject.toml's
[tool.importlinter] (each package imports only from the layers below it, lazy imports included,
and no package's modules import each other in a cycle)."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, cli_env


def test_lint_imports_keeps_every_contract():
    script = Path(sys.executable).with_name("lint-imports")  # the dev extra's console script
    command = [str(script)] if script.is_file() else [sys.executable, "-c", LINT_IMPORTS]
    done = subprocess.run(
        [*command, "--no-cache", "--no-logo"], capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]


LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"
