"""Heap snapshots: refscope.snapshot() vs gc.collect() on the same heap, bytes per object,
dominators, and guppy3 / Pympler / objgraph side by side.

Every measurement runs in a fresh interpreter that builds the heap first (so one tool's
leftovers do not change another's heap), with a time limit per tool.

    .venv/bin/pip install guppy3 pympler objgraph     # the peers (not package deps)
    .venv/bin/python benches/snapshot.py --sizes 1000000,10000000 --markdown out.md

The heap: `size / 5` instances of a class, each holding a list (of one int), a distinct
str and a float (5 objects per instance, plus the interpreter's own ~50k objects).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

BUILD = """
import gc, resource, sys, time
class Record:
    def __init__(self, i):
        self.items = [i]
        self.name = "record-" + str(i)
        self.weight = i * 0.5
HEAP = [Record(i) for i in range({size} // 5)]
gc.collect()
def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
def hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
def reset_hwm():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
def timed(f, repeat):
    best = None
    for _ in range(repeat):
        t = time.perf_counter(); result = f(); elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    return best, result
"""

TOOLS = {
    "gc.collect()": "timed(gc.collect, {repeat})[0]",
    "refscope.snapshot()": """
import refscope
gc.collect()
reset_hwm(); before = rss_kib()
elapsed, snap = timed(refscope.snapshot, {repeat})
peak = hwm_kib() - before
# The ratio again with both measured alternately in this process, which a loaded machine
# disturbs less than runs in separate processes minutes apart.
pair_gc = pair_snap = None
for _ in range(max({repeat}, 5)):
    t = time.perf_counter(); gc.collect(); g = time.perf_counter() - t
    t = time.perf_counter(); refscope.snapshot(baseline=False); s = time.perf_counter() - t
    pair_gc = g if pair_gc is None else min(pair_gc, g)
    pair_snap = s if pair_snap is None else min(pair_snap, s)
t = time.perf_counter(); snap._core.compute_dominators(); dominators = time.perf_counter() - t
t = time.perf_counter(); top = snap.top_types(); top_types = time.perf_counter() - t
wanted = [r.id for r in snap.largest_retainers(100)]
t = time.perf_counter(); snap.why_alive(wanted[0], max_roots=5); why_first = time.perf_counter() - t
t = time.perf_counter()
for address in wanted:
    snap.why_alive(address, max_roots=5)
why_each = (time.perf_counter() - t) / len(wanted)
extra = dict(objects=snap.object_count, references=snap.reference_count,
             graph_bytes_per_object=snap.memory_bytes / snap.object_count,
             peak_rss_mib=peak / 1024, dominators_s=dominators, top_types_s=top_types,
             why_alive_first_s=why_first, why_alive_each_ms=why_each * 1e3,
             interleaved_gc_s=pair_gc, interleaved_snapshot_s=pair_snap)
elapsed
""",
    "guppy3 hpy().heap()": "from guppy import hpy\ntimed(lambda: hpy().heap(), 1)[0]",
    "Pympler summarize": (
        "from pympler import muppy, summary\n"
        "timed(lambda: summary.summarize(muppy.get_objects()), 1)[0]"
    ),
    "objgraph typestats": "import objgraph\ntimed(objgraph.typestats, 1)[0]",
}


def run_tool(tool: str, size: int, repeat: int, timeout: float) -> dict:
    body = TOOLS[tool].format(repeat=repeat).strip().splitlines()
    *setup, last = body
    code = (
        BUILD.format(size=size)
        + "\nextra = {}\n"
        + "\n".join(setup)
        + f"\n__elapsed = {last}\n"
        + "import json; print(json.dumps(dict(seconds=__elapsed, **extra)))\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"failed: {tail[:120]}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--peers-up-to", type=int, default=1_000_000,
                        help="run guppy3, Pympler and objgraph up to this heap size")
    parser.add_argument("--markdown")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        results = {}
        for tool in TOOLS:
            if tool in ("guppy3 hpy().heap()", "Pympler summarize", "objgraph typestats") and (
                size > args.peers_up_to
            ):
                continue
            repeat = args.repeat if size <= 1_000_000 else 1
            results[tool] = run_tool(tool, size, repeat, args.timeout)
            print(size, tool, results[tool], flush=True)
        rows.append((size, results))
    lines = [
        "| heap | tool | seconds | × gc.collect() | refscope is faster by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for size, results in rows:
        base = results.get("gc.collect()", {}).get("seconds")
        ours = results.get("refscope.snapshot()", {}).get("seconds")
        for tool, r in results.items():
            if "error" in r:
                lines.append(f"| {size:,} | {tool} | {r['error']} | | |")
                continue
            ratio = f"{r['seconds'] / base:.2f}" if base else ""
            faster = f"{r['seconds'] / ours:.1f}×" if ours and tool != "refscope.snapshot()" else ""
            lines.append(f"| {size:,} | {tool} | {r['seconds']:.3f} | {ratio} | {faster} |")
        snap = results.get("refscope.snapshot()", {})
        if "objects" in snap:
            lines.append(
                f"| {size:,} | refscope details | snapshot ÷ gc.collect() alternated in one "
                f"process: {snap['interleaved_snapshot_s']:.3f} / {snap['interleaved_gc_s']:.3f}"
                f" s = {snap['interleaved_snapshot_s'] / snap['interleaved_gc_s']:.2f}; "
                f"{snap['objects']:,} objects, "
                f"{snap['references']:,} references; graph {snap['graph_bytes_per_object']:.1f} "
                f"B/object; peak RSS +{snap['peak_rss_mib']:.0f} MiB; dominators "
                f"{snap['dominators_s']:.2f} s; top_types {snap['top_types_s']:.2f} s; "
                f"why_alive first {snap['why_alive_first_s']:.2f} s, then "
                f"{snap['why_alive_each_ms']:.2f} ms each (100 largest retainers, 5 roots) "
                "| | |"
            )
    table = "\n".join(lines)
    print(table)
    for path in (args.markdown, args.json):
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"size": s, "results": r} for s, r in rows], f, indent=2)


if __name__ == "__main__":
    main()
