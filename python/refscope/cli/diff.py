"""``refscope diff OLD NEW``: what changed between two heap snapshots.

Exit codes: 0 success, 1 a file cannot be read as a snapshot, 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys

import refscope

from .common import add_progress_argument

HELP = "compare two heap snapshots: objects added and removed per type, new cycles"
DESCRIPTION = (
    "Read two snapshots of one process (OLD taken first) and print, per type, the objects "
    "added and removed (matched by id and type) and their bytes, and the reference-cycle "
    "groups that are new. Snapshots of two different processes (two runs of a script) "
    "compare by type counts only: the types that grew."
)
EPILOG = "Exit codes: 0 success, 1 a FILE is not a readable snapshot, 2 usage error."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="the older snapshot file")
    parser.add_argument("new", metavar="NEW", help="the newer snapshot file")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "-n", "--top", type=int, default=20, metavar="N", help="types shown (default: 20)"
    )
    add_progress_argument(parser)


def _growth_only(old: refscope.Snapshot, new: refscope.Snapshot, top: int, fmt: str) -> int:
    """Two processes: ids mean nothing across them, so only per-type counts compare."""
    growth = new.growth(old)[:top]
    if fmt == "json":
        data = {"same_process": False, "growth": [g._asdict() for g in growth]}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    lines = [
        f"the snapshots come from different processes (pid {old.pid}, {new.pid}): objects "
        "cannot be matched by id, so only the types that grew are shown",
        "",
        f"{'type':<48} {'count':>10} {'increase':>10} {'bytes Δ':>14}",
    ]
    for g in growth:
        lines.append(
            f"{g.name[:48]:<48} {g.count:>10,} {g.increase:>+10,} {g.size_increase:>+14,}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        old = refscope.load(args.old, progress=args.progress)
        new = refscope.load(args.new, progress=args.progress)
    except (OSError, ValueError) as error:
        print(f"refscope diff: {error}", file=sys.stderr)
        return 1
    top = max(args.top, 1)
    if old.pid != new.pid:
        return _growth_only(old, new, top, args.format)
    diff = new.diff(old)
    if args.format == "json":
        data = {
            "same_process": True,
            "added": diff.added,
            "added_size": diff.added_size,
            "removed": diff.removed,
            "removed_size": diff.removed_size,
            "types": [t._asdict() for t in diff.types[:top]],
            "new_cycle_groups": [g._asdict() for g in diff.new_cycle_groups[:top]],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    lines = [
        f"+{diff.added:,} objects ({diff.added_size:+,} bytes), -{diff.removed:,} objects "
        f"({-diff.removed_size:+,} bytes)",
        "",
        f"{'type':<48} {'added':>10} {'removed':>10} {'count Δ':>10} {'bytes Δ':>14}",
    ]
    for t in diff.types[:top]:
        lines.append(
            f"{t.name[:48]:<48} {t.added:>10,} {t.removed:>10,} {t.count_delta:>+10,} "
            f"{t.size_delta:>+14,}"
        )
    if diff.new_cycle_groups:
        lines += ["", "new reference cycles:"]
        for g in diff.new_cycle_groups[:top]:
            lines.append(f"  {g.signature[:70]}: {g.components:,} cycles, {g.size:,} bytes")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
