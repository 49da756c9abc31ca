"""The import contracts in pyproject.toml catch an import that runs back up.

Each test copies the package, plants one import in the copy, and runs lint-imports with
the project's own contracts against the copy (PYTHONPATH puts it first): the untouched
copy passes, each planted import breaks the contract that names it, whether it sits at
the top of a module, inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")
pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_copy(tmp_path: Path, plant: dict[str, str] | None = None):
    """lint-imports on a copy of the package, with `plant` appended to its modules
    ({path inside the package: code})."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "supervisord_lite",
        src / "supervisord_lite",
        ignore=shutil.ignore_patterns("__pycache__", "web"),
    )
    for module, code in (plant or {}).items():
        path = src / "supervisord_lite" / module
        path.write_text(path.read_text() + "\n" + code)
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"]
    result = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100
    )
    result.stdout = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # some versions colour a pipe
    return result


def broken(result) -> list[str]:
    """The names of the contracts lint-imports reported broken."""
    lines = [line.strip() for line in result.stdout.splitlines()]
    return [line[: -len(" BROKEN")] for line in lines if line.endswith(" BROKEN")]


def test_the_untouched_copy_keeps_every_contract(tmp_path):
    result = lint_copy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path):
    # base, the bottom layer, reaching for the engine near the top
    code = "def _upward():\n    from supervisord_lite.engine import supervisor  # noqa\n"
    result = lint_copy(tmp_path, {"base/paths.py": code})
    assert result.returncode != 0
    assert "The daemon's packages import only downwards" in broken(result), result.stdout
    assert "supervisord_lite.base.paths -> supervisord_lite.engine.supervisor" in result.stdout


def test_an_import_under_type_checking_counts_too(tmp_path):
    code = "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from supervisord_lite.linux import loop\n"
    result = lint_copy(tmp_path, {"config/model.py": code})
    assert result.returncode != 0
    assert "Config never reaches the loop or anything that runs" in broken(result), result.stdout


def test_the_ctl_may_not_load_the_config_module(tmp_path):
    code = "from supervisord_lite.config import load  # noqa\n"
    result = lint_copy(tmp_path, {"ctl/parse.py": code})
    assert result.returncode != 0
    names = broken(result)
    assert "The ctl imports only base: never config, never the daemon (start-up time)" in names


def test_siblings_on_one_line_stay_apart(tmp_path):
    code = "from supervisord_lite.alerts import batching  # noqa\n"
    result = lint_copy(tmp_path, {"probes/attempts.py": code})
    assert result.returncode != 0
    assert "Probes, alerts and systemd never import each other" in broken(result), result.stdout


def test_no_other_ctl_module_loads_top_or_its_terminal_library(tmp_path):
    # the command line importing top (every command would pay for it), the shell urwid
    code = "def _eager():\n    from supervisord_lite.ctl.top import model  # noqa\n"
    result = lint_copy(tmp_path, {"ctl/parse.py": code, "ctl/shell.py": "import urwid  # noqa\n"})
    assert result.returncode != 0
    names = broken(result)
    assert "Only the ctl's command table and main (lazily, for top) import the top package" in names
    assert "Only the top package imports urwid, its optional terminal library" in names
    assert "supervisord_lite.ctl.shell -> urwid" in result.stdout
