"""`pytest --refscope` on real third-party test suites: wall time against plain pytest.

Downloads the sdists of attrs and jinja2 (``pip download --no-deps --no-binary :all:``; the
versions below, or whatever pip finds when those are missing), installs each with its test
dependencies into a scratch venv together with this checkout's refscope, and runs its test
suite twice: plain ``pytest`` and ``pytest --refscope``. Prints, per suite, the wall times,
their ratio, the time per checked test and the counts (tests, failed, failed for cycles).
Each run's CPU time (user + system, of the pytest process) is printed too: on a machine
shared with other jobs it varies much less than the wall time.

    .venv/bin/python benches/pytest_suites.py [--work DIR] [--suites attrs,jinja2]

Needs network access to the package index (for the sdists and test dependencies) and a
few minutes; not run in CI.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SUITES = {
    # name: (requirement, extra test dependencies, test paths inside the sdist)
    "attrs": ("attrs==26.1.0", ["pytest", "hypothesis", "cloudpickle"], ["tests"]),
    "jinja2": ("jinja2==3.1.6", ["pytest", "trio"], ["tests"]),
}


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def download_sdist(requirement: str, into: Path) -> Path:
    name = requirement.split("==")[0]
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
           "-d", str(into)]
    try:
        run([*pip, requirement])
    except subprocess.CalledProcessError:
        run([*pip, name])  # the pinned version is gone: take what pip finds
    (archive,) = [p for p in into.iterdir() if p.name.lower().startswith(name.lower())
                  and p.name.endswith(".tar.gz")]
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (source,) = [p for p in into.iterdir() if p.is_dir() and p.name.lower().startswith(
        name.lower())]
    return source


def scratch_venv(where: Path, source: Path, extras: list[str]) -> Path:
    run([sys.executable, "-m", "venv", str(where)])
    python = where / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([str(python), "-m", "pip", "install", "-q", str(source), *extras])
    wheels = sorted((REPO / "dist").glob("refscope-*.whl"))
    if wheels:
        run([str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
             str(wheels[-1])])
    else:
        run([str(python), "-m", "pip", "install", "-q", str(REPO)])
    return python


SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)")


def pytest_run(python: Path, source: Path, paths: list[str], *extra: str) -> dict[str, float]:
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths, *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=source, text=True, capture_output=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counts = {kind.rstrip("s"): int(n) for n, kind in SUMMARY.findall(tail)}
    cycles = result.stdout.count("became garbage in test ")
    return {"seconds": elapsed, "cpu": cpu, "cycles_failed": cycles, **counts, "tail": tail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--suites", default=",".join(SUITES))
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="refscope-suites-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.suites.split(","):
        requirement, extras, paths = SUITES[name]
        source = download_sdist(requirement, work / name)
        python = scratch_venv(work / f"venv-{name}", source, extras)
        plain = pytest_run(python, source, paths)
        checked = pytest_run(python, source, paths, "--refscope")
        tests = sum(checked.get(k, 0) for k in ("passed", "failed"))
        rows.append((source.name, plain, checked, tests))
        print(f"{source.name}: plain {plain['tail']}  |  --refscope {checked['tail']}",
              flush=True)
    print()
    print("| suite | plain pytest | `pytest --refscope` | ratio | per checked test | CPU plain "
          "| CPU --refscope | CPU ratio | tests | failed for cycles |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for suite, plain, checked, tests in rows:
        ratio = checked["seconds"] / plain["seconds"]
        per_test = (checked["seconds"] - plain["seconds"]) / max(tests, 1) * 1000
        cpu_ratio = checked["cpu"] / plain["cpu"] if plain["cpu"] else float("nan")
        print(f"| {suite} | {plain['seconds']:.1f} s | {checked['seconds']:.1f} s | "
              f"{ratio:.2f}× | {per_test:+.2f} ms | {plain['cpu']:.1f} s | "
              f"{checked['cpu']:.1f} s | {cpu_ratio:.2f}× | {tests} | "
              f"{checked['cycles_failed']} |")
    print(f"\n(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; work dir {work})")


if __name__ == "__main__":
    main()
