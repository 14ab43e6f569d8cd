"""The import contract of `make lint` (scripts/check_import_contract.py) catches what it must."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
CHECKER = REPOSITORY / "scripts" / "check_import_contract.py"

if not CHECKER.exists():  # pragma: no cover - the tests run from a checkout
    pytest.skip("scripts/check_import_contract.py is not in this tree", allow_module_level=True)


def check(root, *paths):
    return subprocess.run(
        [sys.executable, str(CHECKER), "--root", str(root), *paths],
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_tree(root, files):
    for relative, source in files.items():
        path = root / "python" / "refscope" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


CLEAN = {
    "__init__.py": "",
    "cli/__init__.py": "from .common import UsageError\n",
    "cli/common.py": "class UsageError(Exception):\n    pass\n",
    "cli/run.py": """
        import refscope
        import refscope.integrations.tornado
        from refscope import capture, __version__
        from refscope.cli import common
        from . import common as shared
        from .common import UsageError

        refscope.capture(); refscope.__version__
        """,
}


def test_public_imports_and_the_packages_public_helpers_pass(tmp_path):
    make_tree(tmp_path, CLEAN)
    result = check(tmp_path, "python/refscope/cli")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("from .. import _core\n", "imports private name refscope._core"),
        ("from .._core import CycleAnalysis\n", "imports private module refscope._core"),
        ("from .._report import _colour_wanted\n", "imports private module refscope._report"),
        ("import refscope._capture\n", "imports private module refscope._capture"),
        ("from refscope._capture import capture\n", "imports private module refscope._capture"),
        ("from refscope import _saferepr\n", "imports private name refscope._saferepr"),
        (
            "import refscope\nrefscope._colour_wanted(None)\n",
            "uses private name refscope._colour_wanted",
        ),
        ("import refscope as r\nr._core\n", "uses private name refscope._core"),
        (
            "import importlib\nimportlib.import_module('refscope._analysis')\n",
            "imports private module refscope._analysis",
        ),
        (
            "from ..integrations import _render\n",
            "imports private name refscope.integrations._render",
        ),
        # Not even a private helper of the package's own: its helpers are public modules.
        ("from ._helpers import UsageError\n", "imports private module refscope.cli._helpers"),
        ("from . import _helpers\n", "imports private name refscope.cli._helpers"),
    ],
)
def test_a_private_import_in_a_checked_package_fails_the_check(tmp_path, source, message):
    make_tree(tmp_path, {**CLEAN, "cli/bad.py": source})
    result = check(tmp_path, "python/refscope/cli")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "python/refscope/cli/bad.py:" in result.stdout
    assert message in result.stdout
    assert "violation(s)" in result.stderr


def test_a_checked_single_module_may_not_import_private_modules(tmp_path):
    make_tree(tmp_path, {"__init__.py": "", "pytest_plugin.py": "from ._capture import _check\n"})
    result = check(tmp_path, "python/refscope/pytest_plugin.py")
    assert result.returncode == 1
    assert "imports private module refscope._capture" in result.stdout
    assert "imports private name refscope._capture._check" in result.stdout


def test_the_enforced_paths_of_this_repository_keep_the_contract():
    result = subprocess.run(
        [sys.executable, str(CHECKER)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
