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


def normalised(text):
    """Lines with what differs between CPython versions masked: object sizes, and the
    object and reference counts (3.10's gc.garbage also holds the instance dicts)."""
    text = re.sub(r"\b\d+ B\b", "<n> B", text)
    text = re.sub(r"among \d+ objects \(\d+ in cyclic components, \d+ references\)",
                  "among <n> objects (<n> in cyclic components, <n> references)", text)
    return [line.rstrip() for line in text.strip().splitlines()]


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
        assert normalised(run.stdout) == normalised(expected), run.stdout
