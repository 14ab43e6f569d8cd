"""The binding's entry points that read CPython's internal layouts check what they are
given: a non-frame where a frame is expected, more local names than a frame has slots, or
a non-instance where the inline-attribute probe is expected, read nothing out of bounds
and answer "unsupported" (run in a subprocess: a wrong read would crash the process)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from refscope import _core

    def frame_with_locals():
        a, b = "x", [1]
        return _core.heap_frame_layout_supported(sys._getframe(), [a, b])

    assert frame_with_locals() is True
    # Not a frame: nothing read at frame offsets.
    assert _core.heap_frame_layout_supported(object(), [1]) is False
    assert _core.heap_frame_layout_supported(3, []) is False
    # More values than the frame has fast-local slots: nothing read past them.
    assert _core.heap_frame_layout_supported(sys._getframe(), list(range(500))) is False
    # Not an instance of a managed-dict class, or wrong names: no inline values read.
    assert _core.heap_inline_names_supported(object(), ["a"], [1]) is False
    assert _core.heap_inline_names_supported(int, ["a"], [1]) is False

    class Probe:
        pass

    Probe.__qualname__ = "Probe.distinct"
    probe = Probe()
    probe.alpha = "a"
    assert _core.heap_inline_names_supported(probe, ["wrong"], ["a"]) is False

    # A heap walk given frames of the wrong kind, and more local names than slots.
    junk_names = "\\0".join(f"n{i}" for i in range(500))
    frames = [object(), "not a frame", "x", sys._getframe(), "this frame", junk_names]
    import gc
    snapshot = _core.take_heap_snapshot(
        gc.get_objects(), sys.modules, frames, object(), ["alpha"], ["a"], object(),
        sys.version, os.getpid(), int(time.time()),
    )
    assert snapshot.node_count > 0
    print("ok")
    """
)


def test_layout_readers_refuse_wrong_objects_without_reading_out_of_bounds():
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-X", "faulthandler", "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
