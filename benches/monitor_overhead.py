#!/usr/bin/env python3
"""What a running refscope.Monitor (default settings) costs a process, resolved on a noisy
machine (issue 20).

One deterministic workload (a loop that handles request-like objects; every
``--cycle-every``-th request leaves a cycle behind, every fourth of those a caught
exception's frame cycle; automatic gc on with its default thresholds, over a live heap of
long-lived objects) runs in fresh worker processes, alternately without and with
``refscope.Monitor()`` (ABBA order). Each worker times every collection through
``gc.callbacks``: a "start" hook first in the list and a "stop" hook last, so a collection's
time includes the callbacks of the monitor (which sit between the two). It records the CPU
time of the thread in each collection (``time.thread_time()``: time other processes take
from the CPU is not counted), the objects each collection reported, and the process's CPU
time over the whole loop.

The mutator (the loop outside gc) does the same work in both modes, so the monitor's cost
is the difference of the time in collections: its callbacks plus the extra collection work
sampling causes (a sampled collection's garbage survives, with ``DEBUG_SAVEALL``, to be
traversed and freed by a later collection). Its share is that difference over the process
CPU time with the monitor on. The process-CPU difference is shown too; it is what a
quiet machine would measure, and here mostly noise.

Run ``python benches/monitor_overhead.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "MONITOR-OVERHEAD-RESULT "
TARGET_SHARE = 0.02  # issue 20: <= 2 % of the process's CPU time, extra gc work included
MODES = ("off", "on")


# --------------------------------------------------------------------------------------
# The workload: deterministic, the same in both modes.
# --------------------------------------------------------------------------------------


class Request:
    def __init__(self, number: int) -> None:
        self.number = number
        self.headers = {"host": "example.test", "x-request-id": str(number),
                        "accept": "application/json", "user-agent": "bench/1.0"}
        self.params = {"page": number % 10, "sort": ("name", "date")[number % 2]}
        self.body = [f"chunk {index}" for index in range(6)]


class Handler:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.response: list[str] = []

    def on_finish(self) -> None:
        pass

    def render(self) -> str:
        parts = [f"{key}={value}" for key, value in sorted(self.request.params.items())]
        self.response.append("&".join(parts))
        return "".join(self.response)


def _fail_and_keep_the_exception() -> None:
    try:
        raise ValueError("request failed")
    except ValueError as error:
        caught = error  # noqa: F841 - frame -> caught -> exception -> traceback -> frame


def handle(number: int, cache: list[object], cycle_every: int) -> int:
    handler = Handler(Request(number))
    size = len(handler.render())
    cache[number % len(cache)] = (number, handler.request.headers)  # long-lived churn
    if number % cycle_every == 0:
        handler.on_finish_callback = handler.on_finish  # handler -> bound method -> handler
        if number % (4 * cycle_every) == 0:
            _fail_and_keep_the_exception()
    return size


def build_live_heap(objects: int) -> list[object]:
    """Long-lived application state: what full collections traverse."""
    return [{"id": index, "tags": [index, str(index)]} for index in range(objects // 3)]


# --------------------------------------------------------------------------------------
# Worker: one mode, one process.
# --------------------------------------------------------------------------------------


class CollectionTimer:
    """Times every collection with a "start" hook first and a "stop" hook last in
    gc.callbacks, so the time includes every other callback (the monitor's).

    refscope's own "start" hook moves its "stop" hook to the end of the list at every
    collection (so that nothing runs after it and finds the garbage gone); this timer's
    "stop" hook, called for the "start" phase after it, moves itself back behind it.
    gc walks the list by index (CPython Modules/gcmodule.c, invoke_gc_callback), so the
    hook it skips by that move is refscope's "stop" hook, which ignores "start"."""

    def __init__(self) -> None:
        self.start_hook = self.on_start  # one bound method each, found by identity
        self.stop_hook = self.on_stop
        self.started_cpu = 0.0
        self.started_wall = 0.0
        self.cpu_by_generation = [0.0, 0.0, 0.0]
        self.wall_by_generation = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self.collected = [0, 0, 0]

    def on_start(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started_wall = time.perf_counter()
            self.started_cpu = time.thread_time()

    def on_stop(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            callbacks = gc.callbacks
            if callbacks[-1] is not self.stop_hook:
                callbacks.remove(self.stop_hook)
                callbacks.append(self.stop_hook)
        elif phase == "stop":
            cpu = time.thread_time() - self.started_cpu
            wall = time.perf_counter() - self.started_wall
            generation = info["generation"]
            self.cpu_by_generation[generation] += cpu
            self.wall_by_generation[generation] += wall
            self.collections[generation] += 1
            self.collected[generation] += info["collected"]

    def install(self) -> None:
        gc.callbacks.insert(0, self.start_hook)
        gc.callbacks.append(self.stop_hook)

    def remove(self) -> None:
        gc.callbacks.remove(self.start_hook)
        gc.callbacks.remove(self.stop_hook)


def worker_main(args: argparse.Namespace) -> int:
    import refscope

    # One-time costs (lazy imports, the first analysis) are not what a long-running
    # process pays per sample: pay them before the loop, in both modes.
    refscope.find_cycles([], keep_objects=False)
    gc.collect()
    live = build_live_heap(args.live_objects)
    cache: list[object] = [None] * args.cache
    gc.collect()
    monitor = refscope.Monitor().start() if args.mode == "on" else None
    timer = CollectionTimer()
    timer.install()  # around the monitor's hooks: the time includes its callbacks
    started_cpu = time.process_time()
    started_wall = time.perf_counter()
    total = 0
    for number in range(args.requests):
        total += handle(number, cache, args.cycle_every)
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started_wall
    timer.remove()
    result = {
        "mode": args.mode,
        "process_cpu_s": cpu,
        "wall_s": wall,
        "gc_cpu_s": sum(timer.cpu_by_generation),
        "gc_wall_s": sum(timer.wall_by_generation),
        "gc_cpu_by_generation_s": timer.cpu_by_generation,
        "collections": timer.collections,
        "collected": timer.collected,
        "checksum": total,
    }
    if monitor is not None:
        stats = monitor.stats()
        monitor.stop()
        result["monitor"] = stats.to_dict()
    del live, cache
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    os._exit(0)  # skip freeing the heap object by object


# --------------------------------------------------------------------------------------
# Parent: alternate the modes, aggregate, render.
# --------------------------------------------------------------------------------------


def run_worker(args: argparse.Namespace, mode: str) -> dict:
    command = [args.python, str(Path(__file__).resolve()), "_worker", "--mode", mode,
               "--requests", str(args.requests), "--cycle-every", str(args.cycle_every),
               "--live-objects", str(args.live_objects), "--cache", str(args.cache)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                               timeout=3600)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f"{mode} worker failed (status {completed.returncode}):\n"
                       f"{completed.stderr[-3000:]}")


def summarise(runs: list[dict]) -> dict:
    by_mode = {mode: [run for run in runs if run["mode"] == mode] for mode in MODES}
    median = {mode: {key: statistics.median(run[key] for run in by_mode[mode])
                     for key in ("process_cpu_s", "wall_s", "gc_cpu_s", "gc_wall_s")}
              for mode in MODES}
    # Rounds pair an off run with the on run next to it (ABBA), which cancels slow drifts
    # in the machine's load.
    pairs = list(zip(by_mode["off"], by_mode["on"], strict=True))
    gc_shares = [(on["gc_cpu_s"] - off["gc_cpu_s"]) / on["process_cpu_s"] for off, on in pairs]
    cpu_shares = [(on["process_cpu_s"] - off["process_cpu_s"]) / on["process_cpu_s"]
                  for off, on in pairs]
    on_monitor = [run["monitor"] for run in by_mode["on"]]
    analysis = statistics.median(m["analysis_seconds"] for m in on_monitor)
    extra_gc = [on["gc_cpu_s"] - off["gc_cpu_s"] for off, on in pairs]
    return {
        "median": median,
        "gc_share": statistics.median(gc_shares),
        "gc_shares": gc_shares,
        "cpu_share": statistics.median(cpu_shares),
        "cpu_shares": cpu_shares,
        "monitor_callback_s": analysis,
        "monitor_callback_share": statistics.median(
            m["analysis_seconds"] / run["process_cpu_s"]
            for m, run in zip(on_monitor, by_mode["on"], strict=True)),
        "extra_collection_work_s": statistics.median(extra_gc) - analysis,
        "monitor_reported_overhead": statistics.median(m["overhead"] for m in on_monitor),
        "collections": {mode: by_mode[mode][0]["collections"] for mode in MODES},
        "collected": {mode: by_mode[mode][0]["collected"] for mode in MODES},
        "monitor": on_monitor[0],
    }


def render_markdown(summary: dict, args: argparse.Namespace, command: str,
                    rounds: int, elapsed: float) -> str:
    median, monitor = summary["median"], summary["monitor"]
    verdict = "met" if summary["gc_share"] <= TARGET_SHARE else (
        f"MISSED by {summary['gc_share'] / TARGET_SHARE - 1:.0%}")

    def row(mode: str) -> str:
        m = median[mode]
        collections = summary["collections"][mode]
        collected = summary["collected"][mode]
        return (f"| {mode} | {m['process_cpu_s']:.3f} | {m['gc_cpu_s'] * 1000:.1f} "
                f"| {m['gc_cpu_s'] / m['process_cpu_s']:.2%} "
                f"| {' / '.join(f'{n:,}' for n in collections)} "
                f"| {' / '.join(f'{n:,}' for n in collected)} |")

    sampled = monitor["sampled_by_generation"]
    return "\n".join([
        "### Monitor overhead, default settings (`benches/monitor_overhead.py`)",
        "",
        f"Command: `{command}` ({rounds} rounds of off/on in ABBA order, ran {elapsed:.0f} s)",
        "",
        f"Workload: {args.requests:,} request-like objects handled in a loop (a handler, its "
        f"request with two dicts and a list, a rendered string), every {args.cycle_every}th "
        f"leaving a handler <-> bound-method cycle and every {4 * args.cycle_every}th also a "
        f"caught exception's frame cycle; {args.live_objects:,} long-lived objects and a "
        f"{args.cache:,}-entry cache of recent headers; automatic gc on with default "
        "thresholds. Every collection is timed through `gc.callbacks` (a start hook first, "
        "a stop hook last, so the monitor's callbacks are inside), in thread CPU time.",
        "",
        "| monitor | process CPU s | CPU in collections ms | share | collections gen 0 / 1 / 2 "
        "| objects collected gen 0 / 1 / 2 |",
        "|---|---:|---:|---:|---:|---:|",
        row("off"),
        row("on"),
        "",
        f"- **Monitor's share of the process CPU time, extra collection work included: "
        f"{summary['gc_share']:.2%}** ({verdict}; target ≤ {TARGET_SHARE:.0%}), the median "
        "over rounds of (CPU in collections on − off) / process CPU on; rounds: "
        + ", ".join(f"{share:.2%}" for share in summary["gc_shares"]) + ".",
        f"- Of that, the monitor's own callbacks: {summary['monitor_callback_s'] * 1000:.1f} ms "
        f"({summary['monitor_callback_share']:.2%} of the process CPU); the extra collection "
        f"work sampling causes (kept garbage traversed and freed later): "
        f"{summary['extra_collection_work_s'] * 1000:.1f} ms. The monitor's own accounting "
        "(`stats().overhead`, what its budget uses) says "
        f"{summary['monitor_reported_overhead']:.2%}.",
        f"- Sampled: {monitor['collections_sampled']:,} of "
        f"{sum(monitor['collections_by_generation']):,} collections "
        f"(gen 0 / 1 / 2: {' / '.join(map(str, sampled))}), "
        f"{monitor['skipped_for_budget']:,} candidates skipped for the budget, "
        f"{monitor['cycles_found']:,} cycles found in {monitor['groups']} groups.",
        "- The process-CPU difference (on − off) / on, which includes the mutator's noise: "
        f"median {summary['cpu_share']:.2%}, rounds "
        + ", ".join(f"{share:.2%}" for share in summary["cpu_shares"]) + ".",
        "",
    ])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benches/monitor_overhead.py",
        description="The CPU share of a refscope.Monitor with default settings over one "
        "deterministic workload, extra collection work included, from the time of every "
        "collection with and without the monitor. Build first with `make build`.",
    )
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds of one off and one on run (default: 4)")
    parser.add_argument("--requests", type=int, default=1_000_000,
                        help="requests handled per run (default: 1000000)")
    parser.add_argument("--cycle-every", type=int, default=10,
                        help="every N-th request leaves a cycle (default: 10)")
    parser.add_argument("--live-objects", type=int, default=300_000,
                        help="long-lived objects in the heap (default: 300000)")
    parser.add_argument("--cache", type=int, default=10_000,
                        help="entries of the cache of recent requests (default: 10000)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter with refscope installed (default: this one)")
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the markdown to FILE")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write every run as JSON to FILE")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: 1 round of 20000 requests over 3000 live objects")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        worker = argparse.ArgumentParser(prog="benches/monitor_overhead.py _worker")
        worker.add_argument("--mode", choices=MODES, required=True)
        worker.add_argument("--requests", type=int, required=True)
        worker.add_argument("--cycle-every", type=int, required=True)
        worker.add_argument("--live-objects", type=int, required=True)
        worker.add_argument("--cache", type=int, required=True)
        return worker_main(worker.parse_args(argv[1:]))
    args = build_parser().parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.live_objects, args.cache = 1, 20_000, 3000, 1000
    if args.rounds < 1 or args.requests < 1 or args.cycle_every < 1 or args.cache < 1:
        print("error: --rounds, --requests, --cycle-every and --cache must be >= 1",
              file=sys.stderr)
        return 2
    command = shlex.join(["python", os.path.relpath(__file__, REPO), *argv])
    started = time.monotonic()
    runs = []
    for round_index in range(args.rounds):
        order = MODES if round_index % 2 == 0 else MODES[::-1]
        for mode in order:
            run = run_worker(args, mode)
            runs.append(run)
            print(f"round {round_index + 1}/{args.rounds} {mode}: process CPU "
                  f"{run['process_cpu_s']:.3f} s, in collections {run['gc_cpu_s'] * 1000:.1f} "
                  f"ms", file=sys.stderr, flush=True)
    if len({run["checksum"] for run in runs}) != 1:
        print("error: the workload was not deterministic", file=sys.stderr)
        return 1
    summary = summarise(runs)
    markdown = render_markdown(summary, args, command, args.rounds,
                               time.monotonic() - started)
    print(markdown)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, "summary": summary,
                                         "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
