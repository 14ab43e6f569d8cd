"""The `.heapsnapshot` export, read by Chrome DevTools' own snapshot code.

`heap-snapshot-toolkit` (npm, Apache-2.0, no dependencies) re-exports the DevTools
frontend's HeapSnapshot classes. The test installs it into a cache directory with npm,
parses our export with it, and checks DevTools computes the same retained sizes as
refscope. DevTools keeps node ids in a Uint32Array, so ids are matched modulo 2**32.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import refscope

TOOLKIT = "heap-snapshot-toolkit@1.1.3"

CHECK_SCRIPT = r"""
import { createReadStream } from 'node:fs'
import { parse } from 'heap-snapshot-toolkit'

const [file, idsJson] = process.argv.slice(2)
const wanted = new Set(JSON.parse(idsJson).map(String))
const snapshot = await parse(createReadStream(file, 'utf-8'))
const found = {}
for (let i = 0; i < snapshot.nodeCount; i++) {
  const node = snapshot.createNode(i * snapshot.nodeFieldCount)
  const id = String(node.id())
  if (wanted.has(id)) {
    found[id] = { retained: node.retainedSize(), self: node.selfSize(), name: node.name() }
  }
}
const root = snapshot.createNode(0)
console.log(JSON.stringify({
  nodeCount: snapshot.nodeCount,
  rootRetained: root.retainedSize(),
  rootEdges: root.edgesCount(),
  found,
}))
"""


def _toolkit_dir() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the DevTools export test needs them")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    directory = cache / "refscope-tests" / TOOLKIT.replace("@", "-")
    if not (directory / "node_modules" / "heap-snapshot-toolkit" / "package.json").exists():
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "package.json").write_text('{"private": true, "type": "module"}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(directory), TOOLKIT],
            check=True,
            capture_output=True,
            timeout=300,
        )
    (directory / "check.mjs").write_text(CHECK_SCRIPT)
    return directory


def _devtools_view(path: Path, ids: list[int]) -> dict:
    directory = _toolkit_dir()
    result = subprocess.run(
        ["node", str(directory / "check.mjs"), str(path), json.dumps([i % 2**32 for i in ids])],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Owner:
    pass


def test_devtools_reads_the_export_and_agrees_on_retained_sizes(tmp_path):
    owner = Owner()
    owner.payload = bytearray(100_000)
    owner.names = [f"name-{i}" for i in range(50)]
    owner.nested = {"deep": [Owner() for _ in range(10)]}
    snap = refscope.snapshot()
    path = tmp_path / "heap.heapsnapshot"
    snap.export_heapsnapshot(path)

    ids = [id(owner), id(owner.payload), id(owner.names), id(owner.nested)]
    ids += [r.id for r in snap.largest_retainers(25)]
    view = _devtools_view(path, ids)

    assert view["nodeCount"] == snap.object_count + 1  # the synthetic root
    assert view["rootRetained"] == snap.total_size
    assert view["rootEdges"] == len({r.id for r in snap.roots()})
    for address in ids:
        seen = view["found"][str(address % 2**32)]
        assert seen["retained"] == snap.retained_size(address), snap.type_of(address)
        assert seen["self"] == snap.shallow_size(address)
        assert seen["name"] == snap.type_of(address)
    assert view["found"][str(id(owner) % 2**32)]["retained"] > 100_000


def test_export_has_every_v8_section_and_property_root_edges(tmp_path):
    snap = refscope.snapshot()
    path = tmp_path / "heap.heapsnapshot"
    snap.export_heapsnapshot(path)
    data = json.loads(path.read_text())
    for section in (
        "snapshot",
        "nodes",
        "edges",
        "trace_function_infos",
        "trace_tree",
        "samples",
        "locations",
        "strings",
    ):
        assert section in data
    meta = data["snapshot"]["meta"]
    fields = len(meta["node_fields"])
    edge_types = meta["edge_types"][0]
    root_edges = data["nodes"][meta["node_fields"].index("edge_count")]
    kinds = {edge_types[data["edges"][i * 3]] for i in range(root_edges)}
    assert kinds == {"property"}
    # Node ids are the objects' id().
    ids = set(data["nodes"][2::fields])
    assert id(sys.modules["__main__"].__dict__) in ids
