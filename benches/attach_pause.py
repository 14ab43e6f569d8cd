"""How long `refscope attach PID --collect` pauses the target (BENCHMARKS.md, "Attach").

The target holds OBJECTS gc-tracked objects (and, before each attach, GARBAGE A <-> B
cycles with a finaliser; gc disabled as in the recipe's server) and its main thread ticks
every millisecond; the longest gap between two ticks during an attach is the pause its
Python code saw (the debugger's stop and the GIL held by the collection and the
analysis). The reference is the same target's own `gc.collect()` of that heap.

    .venv/bin/python benches/attach_pause.py --objects 1000000 --runs 5
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

TARGET = """
    import gc, signal, sys, time

    class Node:
        __slots__ = ("next",)

    class A:
        def __init__(self, b):
            self.b = b

    class B:
        def __init__(self):
            self.a = A(self)
        def __del__(self):
            pass

    gc.disable()
    heap = [Node() for _ in range({objects})]
    started = time.perf_counter()
    gc.collect()
    print("collect", time.perf_counter() - started, flush=True)
    longest = 0.0

    def reset(signum, frame):
        global longest
        for _ in range({garbage}):
            B()  # garbage cycles for the attach to find
        longest = 0.0

    def report(signum, frame):
        print("longest", longest, flush=True)

    signal.signal(signal.SIGUSR1, reset)
    signal.signal(signal.SIGUSR2, report)
    print("ready", flush=True)
    last = time.perf_counter()
    while True:
        time.sleep(0.001)
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
"""


def read_value(process: subprocess.Popen, key: str) -> float:
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"target ended: {process.stderr.read()}")
        if line.startswith(key + " "):
            return float(line.split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--garbage", type=int, default=1000, help="A<->B cycles per attach")
    args = parser.parse_args()
    source = (
        textwrap.dedent(TARGET)
        .replace("{objects}", str(args.objects))
        .replace("{garbage}", str(args.garbage))
    )
    output = tempfile.mkdtemp(prefix="refscope-bench-") + "/report.txt"
    process = subprocess.Popen(
        [sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        plain_collect = read_value(process, "collect")
        process.stdout.readline()  # ready
        idle, pauses, walls, work = [], [], [], []
        for _ in range(args.runs):
            process.send_signal(signal.SIGUSR1)
            time.sleep(2.0)
            process.send_signal(signal.SIGUSR2)
            idle.append(read_value(process, "longest"))
            process.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "refscope", "attach", str(process.pid), "-o", output],
                capture_output=True, text=True, timeout=600,
            )
            walls.append(time.perf_counter() - started)
            if result.returncode != 0:
                raise RuntimeError(result.stderr)
            work.append(float(result.stderr.split("(analysed in ")[1].split(" s)")[0]))
            time.sleep(0.2)
            process.send_signal(signal.SIGUSR2)
            pauses.append(read_value(process, "longest"))
    finally:
        process.kill()
        process.wait()
    median = statistics.median
    print(f"CPython {sys.version.split()[0]}, {args.objects:,} objects, {args.garbage:,} garbage "
          f"cycles per attach, {args.runs} runs (medians)")
    print(f"  target's own gc.collect() of the heap:       {plain_collect * 1000:8.1f} ms")
    print(f"  longest tick gap, no attach (2 s window):     {median(idle) * 1000:8.1f} ms")
    print(f"  longest tick gap during attach --collect:     {median(pauses) * 1000:8.1f} ms"
          f"  ({median(pauses) / plain_collect:.2f} x the plain gc.collect())")
    print(f"  collect + analysis in the target (reported):  {median(work) * 1000:8.1f} ms")
    print(f"  whole `refscope attach` command (wall):       {median(walls) * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
