"""Server overhead of refscope.Monitor: the example Tornado server under load, monitor off
vs on (default sampling), from a second process.

    python benches/server_load.py                  # 3 rounds x 10 s per mode, wrk if present
    python benches/server_load.py --duration 5 --rounds 1 --client python

Each round starts a fresh server (examples/tornado_server.py --gc [--monitor]) on a free
port of 127.0.0.1, warms it up, then loads /leak/ (one A <-> B cycle per request, so gc
runs and the monitor samples real collections) for a bounded time. Modes alternate so
that drift of the machine hits both. Reports median throughput, p50/p99 latency and the
monitor's own accounting; writes bench-results/server_load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "examples" / "tornado_server.py"


def start_server(monitor: bool) -> tuple[subprocess.Popen, int]:
    command = [sys.executable, str(SERVER), "--port", "0", "--gc"]
    if monitor:
        command.append("--monitor")
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        command = ["taskset", "-c", "0", *command]  # the load generator gets the other core
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line = process.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, int(match.group(1))


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): less exposed than throughput to
    whatever else runs on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(port: int, duration: float, connections: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency",
               f"http://127.0.0.1:{port}/leak/"]
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        command = ["taskset", "-c", "1", *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {}
    for percentile in ("50", "99"):
        value, unit = re.search(rf"\s{percentile}%\s+([\d.]+)(us|ms|s)", output).groups()
        latency[percentile] = _to_ms(value, unit)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"],
            "errors": float(errors.group(1)) if errors else 0.0}


def run_python_client(port: int, duration: float, connections: int) -> dict[str, float]:
    """Keep-alive GETs from `connections` threads for `duration` seconds (no wrk)."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker() -> None:
        mine = []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (start := time.perf_counter()) < deadline:
            connection.request("GET", "/leak/")
            connection.getresponse().read()
            mine.append((time.perf_counter() - start) * 1e3)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed,
            "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "errors": 0.0}


def monitor_stats(port: int) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/cycles/?format=json")
    data = json.loads(connection.getresponse().read())
    connection.close()
    return data["stats"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before each run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode (alternating)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--output", default=str(REPO / "bench-results" / "server_load.json"))
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    load = run_wrk if use_wrk else run_python_client
    client = "wrk" if use_wrk else "python"

    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for round_index in range(args.rounds):
        order = ("off", "on") if round_index % 2 == 0 else ("on", "off")  # ABBA: cancels drift
        for mode in order:
            process, port = start_server(monitor=mode == "on")
            try:
                load(port, args.warmup, args.connections)
                cpu_before = cpu_seconds(process.pid)
                result = load(port, args.duration, args.connections)
                cpu = cpu_seconds(process.pid) - cpu_before
                result["cpu_us_per_request"] = cpu * 1e6 / (result["rps"] * args.duration)
                if mode == "on":
                    result["monitor"] = monitor_stats(port)
            finally:
                stop_server(process)
            runs[mode].append(result)
            print(f"round {round_index + 1} monitor {mode:>3}: {result['rps']:8.0f} req/s, "
                  f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                  f"server CPU {result['cpu_us_per_request']:.0f} us/request", flush=True)

    summary = {}
    for mode, results in runs.items():
        summary[mode] = {
            "rps_median": statistics.median(r["rps"] for r in results),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in results),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in results),
            "cpu_us_per_request_median": statistics.median(
                r["cpu_us_per_request"] for r in results
            ),
        }
    loss = 1 - summary["on"]["rps_median"] / summary["off"]["rps_median"]
    # Runs of one round are next to each other in time: their ratio is less exposed to
    # whatever else the machine is doing than the ratio of medians.
    ratios = [on["rps"] / off["rps"] for on, off in zip(runs["on"], runs["off"], strict=True)]
    paired_loss = 1 - statistics.median(ratios)
    last = runs["on"][-1]["monitor"]
    print()
    cpu_increase = (summary["on"]["cpu_us_per_request_median"]
                    / summary["off"]["cpu_us_per_request_median"] - 1)
    print(f"| monitor | req/s (median of {args.rounds}) | p50 ms | p99 ms | "
          "server CPU us/request |")
    print("| --- | --- | --- | --- | --- |")
    for mode in ("off", "on"):
        s = summary[mode]
        print(f"| {mode} | {s['rps_median']:.0f} | {s['p50_ms_median']:.2f} | "
              f"{s['p99_ms_median']:.2f} | {s['cpu_us_per_request_median']:.0f} |")
    print(f"\nthroughput loss with the monitor on: {loss:.2%} (ratio of medians), "
          f"{paired_loss:.2%} (median of per-round ratios); client: {client}, "
          f"{args.connections} connections, {args.duration:g} s per run")
    print("per-round on/off throughput ratios (spread = the machine's noise): "
          + ", ".join(f"{r:.3f}" for r in ratios))
    print(f"server CPU per request with the monitor on: {cpu_increase:+.2%}")
    print(f"monitor, last run: {last['collections_sampled']} of {last['collections_seen']} "
          f"collections sampled, {last['skipped_for_budget']} skipped for the budget, "
          f"own time {last['overhead']:.2%} of the server's CPU time, "
          f"{last['cycles_found']} cycles found")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"client": client, "args": vars(args), "runs": runs,
                                  "summary": summary, "throughput_loss": loss,
                                  "paired_throughput_loss": paired_loss,
                                  "cpu_per_request_increase": cpu_increase}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
