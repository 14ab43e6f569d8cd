"""The README's Python examples run, and print what the README says they print."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks_with_output():
    """(code, expected output or None) for each ```python block; the output is the
    ``` block that follows a line saying "prints"."""
    text = README.read_text()
    pattern = re.compile(r"```python\n(.*?)```(?:\s*\n\s*prints[^\n]*\n\s*```\n(.*?)```)?", re.S)
    return [(m.group(1), m.group(2)) for m in pattern.finditer(text)]


BLOCKS = python_blocks_with_output()


def test_the_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_and_prints_what_the_readme_shows(index):
    code, expected = BLOCKS[index]
    # A fresh interpreter, as a reader would run it: no garbage from other tests.
    env = {**os.environ, "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr
    if expected is not None:
        got = [line.rstrip() for line in run.stdout.strip().splitlines()]
        want = [line.rstrip() for line in expected.strip().splitlines()]
        assert got == want, run.stdout
