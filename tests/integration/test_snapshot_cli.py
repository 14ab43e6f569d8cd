"""`refscope snapshot`, `refscope report` and `refscope diff`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys

    class Leak:
        pass

    CACHE = [Leak() for _ in range(1000 + int(sys.argv[1]))]
    if sys.argv[2:] == ["fail"]:
        raise RuntimeError("the script failed")
    """
)


def refscope(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "dev", "-m", "refscope", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "leaky.py"
    path.write_text(SCRIPT)
    return path


def test_snapshot_report_and_diff_of_two_runs(tmp_path, script):
    first, second = tmp_path / "first.rscp", tmp_path / "second.rscp"
    run = refscope("snapshot", "-o", str(first), str(script), "0")
    assert run.returncode == 0, run.stderr
    assert f"written to {first}" in run.stderr
    assert refscope("snapshot", "-o", str(second), str(script), "500").returncode == 0

    report = refscope("report", str(second), "--format", "json", "-n", "100000")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    leak = [t for t in data["top_types"] if t["name"] == "__main__.Leak"]
    assert data["roots"]["module"] > 0
    text = refscope("report", str(second), "-n", "100")
    assert text.returncode == 0
    assert "__main__.Leak" in text.stdout
    assert "1,500" in text.stdout
    assert leak[0]["count"] == 1500

    diff = refscope("diff", str(first), str(second), "--format", "json")
    assert diff.returncode == 0, diff.stderr
    growth = {g["name"]: g for g in json.loads(diff.stdout)["growth"]}
    assert growth["__main__.Leak"]["increase"] == 500


def test_snapshot_is_written_when_the_script_raises(tmp_path, script):
    out = tmp_path / "failed.heapsnapshot"
    run = refscope("snapshot", "-o", str(out), str(script), "0", "fail")
    assert run.returncode == 1
    assert "RuntimeError: the script failed" in run.stderr
    data = json.loads(out.read_text())
    assert data["snapshot"]["node_count"] > 1000


def test_bad_files_and_command_lines_fail_clearly(tmp_path, script):
    bad = tmp_path / "bad.rscp"
    bad.write_bytes(b"not a snapshot at all")
    report = refscope("report", str(bad))
    assert report.returncode == 1
    assert "not a refscope snapshot" in report.stderr and str(bad) in report.stderr
    assert refscope("diff", str(bad), str(bad)).returncode == 1
    missing = refscope("snapshot", str(script))
    assert missing.returncode == 2
    nowhere = refscope("snapshot", "-o", str(tmp_path / "no" / "x.rscp"), str(script), "0")
    assert nowhere.returncode == 2
    assert "does not exist" in nowhere.stderr
