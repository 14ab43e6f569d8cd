"""Group before describing: cycles are grouped from cheap facts, and only what is shown
is described. The groups must be exactly those of describing every cycle."""

import gc
import sys

import refscope


class A:
    def __init__(self, b):
        self.b = b


class B:
    def __init__(self):
        self.a = A(self)


class Slotted:
    __slots__ = ("peer", "other")


def test_half_a_million_identical_cycles_describe_only_what_is_shown():
    gc.disable()
    try:
        objects = []
        for _ in range(500_000):
            b = B()
            objects += [b, b.a]
        report = refscope.find_cycles(objects)
        del objects
        analysis = report._analysis
        assert analysis.described_object_count == 0
        (group,) = report.groups
        assert group.count == 500_000
        assert analysis.described_object_count == 2  # the example
        report.to_text()
        assert analysis.described_object_count == 2
        report.to_json()  # ten cycles per group by default
        assert analysis.described_object_count == 20
        report.release()
    finally:
        gc.enable()


def test_a_released_big_report_keeps_the_shown_cycles_and_reads_the_rest_from_the_example():
    gc.disable()
    try:
        objects = []
        for _ in range(30_000):
            b = B()
            objects += [b, b.a]
        report = refscope.find_cycles(objects, keep_objects=False)
        del objects
        assert report._analysis.described_object_count == 20
        cycle = report.cycles[29_999]
        assert sorted(cycle.types) == [f"{__name__}.A", f"{__name__}.B"]
        assert sorted(cycle.labels) == [".a", ".b"]
        assert len(report.to_json()) > 0
    finally:
        gc.enable()


def signature(cycle):
    steps = list(zip(cycle.types, cycle.labels, strict=True))
    return min(tuple(steps[i:] + steps[:i]) for i in range(len(steps)))


def frame_cycle(tag):
    def inner():
        me = sys._getframe()  # noqa: F841
        return me

    inner.__qualname__ = f"inner_{tag}"
    return inner()


def test_groups_from_cheap_facts_equal_the_groups_of_every_described_cycle():
    """Shapes whose step facts look alike but whose labels differ: dicts under other
    keys, lists at other indexes, frames of other code, closures of other names,
    instances whose attributes were set in another order."""
    objects = []
    for i in range(40):
        d = {f"key{i % 4}": None}
        d[f"key{i % 4}"] = d
        objects.append(d)
        items = [0] * (i % 3) + [None]
        items[-1] = items
        objects.append(items)
        x, y = A(None), A(None)
        if i % 2:
            x.first, x.second = y, 1
        else:
            x.second, x.first = 1, y
        y.back = x
        objects += [x, y]
        # Unset slots are not visited: the set one must still be named.
        p, q = Slotted(), Slotted()
        if i % 2:
            p.peer, q.other = q, p
        else:
            p.other, q.peer = q, p
        objects += [p, q]
        frame = frame_cycle(i % 3)
        objects.append(frame)

        def make(n, _i=i):
            if _i % 2:
                def walk(k):
                    return k and walk(k - 1)
            else:
                def climb(k):
                    return k and climb(k - 1)
            return walk if _i % 2 else climb

        function = make(3)
        objects += [function, function.__closure__, *function.__closure__]
    report = refscope.find_cycles(objects)
    expected = {}
    for index, cycle in enumerate(report.cycles):
        expected.setdefault(signature(cycle), []).append(index)
    got = {}
    for group in report.groups:
        got[signature(group.example)] = group.count
    assert got == {key: len(cycles) for key, cycles in expected.items()}


def test_a_monitor_sample_describes_its_groups_examples_and_its_collect_describes_all(
    monkeypatch,
):
    described = []
    take_sample = refscope.Monitor._take_sample

    def recording(self, report, generation):
        described.append((len(report), report._analysis.described_object_count))
        take_sample(self, report, generation)

    monkeypatch.setattr(refscope.Monitor, "_take_sample", recording)
    gc.disable()
    monitor = refscope.Monitor(max_overhead=None).start()
    try:
        gc.collect()
        described.clear()
        for _ in range(1_000):
            B()
        gc.collect()  # a sample: its report is read for group records only
        for _ in range(1_000):
            B()
        report = monitor.collect()  # the caller's report: small, so described in full
    finally:
        monitor.stop()
        gc.enable()
    assert described == [(1_000, 20), (1_000, 2_000)]  # ten cycles of the one group
    (group,) = monitor.groups()
    assert group.count == 2_000 and len(group.example) == 2
    assert sorted(report.cycles[999].labels) == [".a", ".b"]
