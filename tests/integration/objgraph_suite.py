"""Runs objgraph 3.7.0's own test suite against ``refscope.objgraph``.

    python tests/integration/objgraph_suite.py [--cache DIR]

Downloads the objgraph 3.7.0 sdist with ``pip download`` (cached under ``DIR``, default
``target/objgraph-sdist``), copies its ``tests.py`` and ``docs/*.txt`` into a temporary
directory beside an ``objgraph.py`` that makes ``import objgraph`` import
``refscope.objgraph``, and runs them there with objgraph's own ``test_suite()``. Tests of
objgraph's private helpers are skipped, each with the reason (docs/objgraph.md lists
them). Exit status: 0 when every other test passed, 1 when one failed, 2 when the sdist
could not be had (PyPI unreachable).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

VERSION = "3.7.0"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CACHE = os.path.join(ROOT, "target", "objgraph-sdist")
SHIM = "import sys\nimport refscope.objgraph as m\nsys.modules['objgraph'] = m\n"

# Test ids (unittest's ``id()``) that call objgraph's private helpers, with why. A test
# whose id starts with one of these keys is skipped.
OUT_OF_SCOPE = {
    "tests.ShowGraphTest.": "calls objgraph._show_graph and objgraph._obj_node_id (private)",
    "tests.FindChainTest.": "calls objgraph._find_chain (private)",
    "tests.StringRepresentationTest.": (
        "calls private label helpers (_obj_label, _obj_attrs, _long_typename, _safe_repr, "
        "_short_repr, _gradient, _edge_label)"
    ),
    "tests.PresentGraphTest.": (
        "replaces objgraph.subprocess and objgraph._program_in_path and calls "
        "objgraph._present_graph (private)"
    ),
    "tests.doctest_setup_py_works": (
        "imports objgraph's own setup.py, which is not a test of the API"
    ),
}

DRIVER = r'''
import sys, unittest
sys.path.insert(0, ".")
import tests

OUT_OF_SCOPE = %r

def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t

class Skipped(unittest.TestCase):
    def __init__(self, test_id, why):
        super().__init__("runTest")
        self.test_id, self.why = test_id, why
    def id(self):
        return self.test_id
    def __str__(self):
        return self.test_id
    def runTest(self):
        raise unittest.SkipTest("out of scope: " + self.why)

def skipped(test_id, why):
    return Skipped(test_id, why)

cases = []
for test in flatten(tests.test_suite()):
    why = next((w for k, w in OUT_OF_SCOPE.items() if test.id().startswith(k)), None)
    cases.append(skipped(test.id(), why) if why else test)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(unittest.TestSuite(cases))
run = result.testsRun
failed = len(result.failures) + len(result.errors)

n_skipped = len(result.skipped)
print("objgraph suite: %%d passed, %%d failed, %%d skipped"
      %% (run - failed - n_skipped, failed, n_skipped))
sys.exit(0 if failed == 0 else 1)
'''


def sdist(cache: str) -> str | None:
    """Path of the cached sdist, downloading it if needed; None if PyPI is unreachable."""
    name = f"objgraph-{VERSION}.tar.gz"
    path = os.path.join(cache, name)
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"objgraph=={VERSION}", "-d", cache, "-q", "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0 or not os.path.exists(path):
        sys.stderr.write(done.stdout + done.stderr)
        return None
    return path


def prepare(tarball: str, where: str) -> None:
    """Copies tests.py and docs/*.txt out of the sdist into ``where``, with the shim."""
    top = f"objgraph-{VERSION}/"
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name
            if not name.startswith(top) or not member.isfile():
                continue
            rel = name[len(top):]
            if rel == "tests.py" or (rel.startswith("docs/") and rel.endswith(".txt")
                                     and rel.count("/") == 1):
                target = os.path.join(where, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    with open(os.path.join(where, "objgraph.py"), "w") as f:
        f.write(SHIM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    tarball = sdist(args.cache)
    if tarball is None:
        print(f"objgraph {VERSION} sdist could not be downloaded (PyPI unreachable?)")
        return 2
    with tempfile.TemporaryDirectory(prefix="objgraph-suite-") as where:
        prepare(tarball, where)
        if not glob.glob(os.path.join(where, "docs", "*.txt")):
            print("the sdist holds no docs/*.txt")
            return 1
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        done = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", DRIVER % (OUT_OF_SCOPE,)],
            cwd=where, env=env, text=True, capture_output=True, timeout=900,
        )
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
