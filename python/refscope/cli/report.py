"""``refscope report FILE``: what a saved heap snapshot holds.

Exit codes: 0 success, 1 the file cannot be read as a snapshot, 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys

import refscope

from .common import add_progress_argument

HELP = "summarise a heap snapshot: top types, largest retainers, roots, cycle groups"
DESCRIPTION = (
    "Read FILE (written by 'refscope snapshot' or Snapshot.save) and print the types that "
    "hold the most memory (count, shallow and retained bytes), the objects that retain the "
    "most, how the roots divide up (module globals, thread frames, objects held from "
    "outside the heap by C code, immortal objects), and the heap's reference cycles. "
    "--format html writes one self-contained page (to stdout: redirect it to a file) with "
    "the views of 'refscope serve': those tables, the top of the dominator tree to expand, "
    "and why each object of the tree is alive, looked up by id."
)
EPILOG = "Exit codes: 0 success, 1 FILE is not a readable snapshot, 2 usage error."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a snapshot file")
    parser.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="output format (default: text; html: a page that opens from disk)",
    )
    parser.add_argument(
        "-n", "--top", type=int, default=20, metavar="N", help="rows per table (default: 20)"
    )
    add_progress_argument(parser)


def summary(snap: refscope.Snapshot, top: int) -> dict:
    """The report as plain data."""
    roots: dict[str, int] = {}
    for root in snap.roots():
        roots[root.kind] = roots.get(root.kind, 0) + 1
    return {
        "objects": snap.object_count,
        "references": snap.reference_count,
        "bytes": snap.total_size,
        "python": snap.python_version,
        "pid": snap.pid,
        "taken_at": snap.taken_at,
        "top_types": [t._asdict() for t in snap.top_types(top)],
        "largest_retainers": [r._asdict() for r in snap.largest_retainers(top)],
        "roots": roots,
        "cycle_groups": [g._asdict() for g in snap.cycle_groups()[:top]],
    }


def render_text(data: dict) -> str:
    lines = [
        f"{data['objects']:,} objects, {data['references']:,} references, "
        f"{data['bytes']:,} bytes (Python {data['python'].split()[0]}, pid {data['pid']})",
        "",
        f"{'type':<48} {'count':>10} {'bytes':>14} {'retained':>14}",
    ]
    for t in data["top_types"]:
        lines.append(
            f"{t['name'][:48]:<48} {t['count']:>10,} {t['size']:>14,} {t['retained_size']:>14,}"
        )
    lines += ["", f"{'largest retainers':<48} {'id':>18} {'retained':>14}"]
    for r in data["largest_retainers"]:
        lines.append(f"{r['type'][:48]:<48} {r['id']:>#18x} {r['retained_size']:>14,}")
    lines += ["", "roots: " + ", ".join(f"{n:,} {k}" for k, n in sorted(data["roots"].items()))]
    if data["cycle_groups"]:
        lines += ["", "reference cycles:"]
        for g in data["cycle_groups"]:
            lines.append(
                f"  {g['signature'][:70]}: {g['components']:,} cycles, {g['objects']:,} "
                f"objects, {g['size']:,} bytes"
            )
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    try:
        snap = refscope.load(args.file, progress=args.progress)
    except (OSError, ValueError) as error:
        print(f"refscope report: {error}", file=sys.stderr)
        return 1
    snap.compute_dominators(progress=args.progress)
    if args.format == "html":
        from .snapshot_html import render

        sys.stdout.write(render(snap, args.file, max(args.top, 1)))
        return 0
    data = summary(snap, max(args.top, 1))
    if args.format == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(data))
    return 0
