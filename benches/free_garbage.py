"""The freeing step alone: ``_core.clear_collected_garbage`` on a saving collection's garbage.

For each shape of ``benches/e2e.py`` (1M objects by default) it builds the garbage, runs
the saving collection refscope runs (``DEBUG_SAVEALL``), then times the step twice on
that list: once while one object is held from outside (the check runs in full and
refuses, which is its whole cost), and once for real (check, ``tp_clear`` of every
object, freeing). Beside it, the plain ``gc.collect()`` of the same garbage, built again
with the same seed, as the ratio's base::

    .venv/bin/python benches/free_garbage.py --size 1000000 --shapes frames,web_mix
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e  # noqa: E402  (the shapes of the end-to-end benchmark)


def _units(shape: str, size: int) -> int:
    per_unit = {"del_pairs": 2, "frames": 4, "web_mix": 8}
    return size // per_unit.get(shape, 1)


def measure(shape: str, size: int) -> dict[str, float]:
    """One shape in this (fresh) process: milliseconds of each part."""
    from refscope import _analysis, _core, _gc

    gc.disable()
    gc.collect()
    gc.freeze()
    build = e2e.SHAPES[shape].build
    build(_units(shape, size), random.Random(10))
    started = time.perf_counter()
    gc.collect()
    plain = time.perf_counter() - started

    build(_units(shape, size), random.Random(10))
    taker = _analysis._CollectionTaker()
    _gc.collect(2, taker)
    found, taker.found = taker.found, None
    held = found[len(found) // 2]
    started = time.perf_counter()
    refused = _core.clear_collected_garbage(found)
    check = time.perf_counter() - started
    del held
    started = time.perf_counter()
    cleared = _core.clear_collected_garbage(found)
    clear = time.perf_counter() - started
    started = time.perf_counter()
    del found
    freed = time.perf_counter() - started
    if refused is not None or cleared is None:
        raise SystemExit(f"{shape}: expected a refusal then a clearing, got {refused}, {cleared}")
    return {"plain": plain * 1e3, "check": check * 1e3, "clear": clear * 1e3, "free": freed * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="objects of garbage")
    parser.add_argument("--shapes", default="del_pairs,ring,dense,frames,web_mix",
                        help="comma-separated shapes of benches/e2e.py")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.size)))
        return
    print("| shape | objects | plain gc.collect ms | check (refused) ms | check + tp_clear ms "
          "| then freeing ms | step ÷ plain collection |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for shape in args.shapes.split(","):
        command = [sys.executable, __file__, "--size", str(args.size), "--worker", shape]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        m = json.loads(out.strip().splitlines()[-1])
        ratio = (m["clear"] + m["free"]) / m["plain"]
        print(f"| {shape} | {args.size:,} | {m['plain']:.0f} | {m['check']:.0f} | {m['clear']:.0f} "
              f"| {m['free']:.0f} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
