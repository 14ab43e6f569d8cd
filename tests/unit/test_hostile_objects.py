"""Hostile objects: refscope never crashes the host, runs no user code, and reads type
facts from the type's C struct (through `type`'s own descriptors), not through attribute
lookups a metaclass, an instance dict or a proxy can redirect.

Scenarios that crashed the interpreter before run in a subprocess with
``-X dev -X faulthandler``, so a crash fails the test instead of killing the run.
"""

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
import weakref

import pytest

import refscope


def run_isolated(source: str) -> subprocess.CompletedProcess:
    """Runs `source` in a fresh interpreter with -X dev -X faulthandler."""
    return subprocess.run(
        [sys.executable, "-X", "dev", "-X", "faulthandler", "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_ran_cleanly(result: subprocess.CompletedProcess, expected_stdout: str) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip() == expected_stdout, result.stdout + result.stderr


# --- 1. Type facts read through attribute lookup -------------------------------------


def test_a_metaclass_attribute_named_dictoffset_is_not_used_as_an_offset():
    result = run_isolated(
        """
        import refscope

        class Meta(type):
            __dictoffset__ = 1 << 40
            __basicsize__ = 1 << 41
            __itemsize__ = 1 << 20
            __module__ = "spoofed.module"
            __qualname__ = "Spoofed"

        class A(metaclass=Meta):
            __slots__ = ("__dict__", "me")

        objects = []
        for _ in range(50):
            a = A()
            a.me = a
            a.other = [a]
            objects.append(a)
        report = refscope.find_cycles(objects)
        text = report.to_text()
        sizes = {e.size for c in report.cycles for e in c.entries}
        assert "spoofed" not in text, text
        assert max(sizes) < 1 << 20, sizes
        print(len(report), report.cycles[0].entries[0].type)
        """
    )
    assert_ran_cleanly(result, "50 __main__.A")


def test_metaclass_properties_on_dunder_names_never_run():
    result = run_isolated(
        """
        import gc
        import refscope

        calls = []
        victims = []

        def spy(name, value):
            def get(cls):
                calls.append(name)
                victims.clear()  # frees the objects still to be walked, if it ran
                gc.collect()
                return value
            return property(get)

        class Meta(type):
            __dictoffset__ = spy("__dictoffset__", 8)
            __basicsize__ = spy("__basicsize__", 1 << 40)
            __itemsize__ = spy("__itemsize__", 1 << 30)
            __module__ = spy("__module__", "spoofed.module")
            __mro__ = spy("__mro__", ())
            __bases__ = spy("__bases__", ())
            __base__ = spy("__base__", None)
            __flags__ = spy("__flags__", 0)
            __name__ = spy("__name__", "Spoofed")

        class A(metaclass=Meta):
            def __init__(self):
                self.me = self

        victims.extend(A() for _ in range(200))
        victims.append(A)
        objects = list(victims)
        report = refscope.find_cycles(victims, materialize_dicts=False)
        text = report.to_text() + report.to_json() + report.to_dot() + report.to_svg()
        assert "spoofed" not in text.lower()
        report = refscope.find_cycles(victims, materialize_dicts=True)
        report.to_text()
        print(calls, len(report) >= 200)
        """
    )
    assert_ran_cleanly(result, "[] True")


def test_type_names_and_sizes_come_from_the_type_not_its_metaclass():
    calls = []

    class Meta(type):
        @property
        def __module__(cls):
            calls.append("__module__")
            return "spoofed.module"

        @property
        def __basicsize__(cls):
            calls.append("__basicsize__")
            return 1 << 40

    class Victim(metaclass=Meta):
        pass

    victim = Victim()
    victim.me = victim
    report = refscope.find_cycles([victim])
    entry = report.cycles[0].entries[0]
    assert calls == []
    assert entry.type.endswith("Victim") and "spoofed" not in entry.type
    assert entry.size < 4096


# --- 2. Borrowed pointers while user-visible state can change --------------------------


def test_a_report_keeps_its_objects_where_python_code_cannot_mutate_them():
    result = run_isolated(
        """
        import gc
        import refscope

        class Evil:
            def __repr__(self):
                # Anything reachable from the report that holds its objects gets emptied.
                for referent in gc.get_referents(holder[0]._analysis):
                    if isinstance(referent, list):
                        referent.clear()
                holder[0].release()
                gc.collect()
                return "evil"

        def make():
            import sys
            evil = Evil()
            frame = sys._getframe()
            nodes = []
            for _ in range(100):
                a = type("N", (), {})()
                a.me = a
                nodes.append(a)
            return frame, nodes

        frame, nodes = make()
        holder = []
        report = refscope.find_cycles([frame, *nodes], repr_locals=True)
        holder.append(report)
        del nodes
        text = report.to_text()
        print(len(report), "evil" in text)
        """
    )
    assert_ran_cleanly(result, "101 True")


def test_gc_sees_the_kept_objects_through_the_report():
    class Node:
        pass

    node = Node()
    node.me = node
    report = refscope.find_cycles([node])
    assert any(r is node for r in gc.get_referents(report._analysis))
    assert not any(isinstance(r, list) for r in gc.get_referents(report._analysis))
    watcher = weakref.ref(node)
    del node
    gc.collect()
    assert watcher() is not None  # the report keeps it
    report.release()
    gc.collect()
    assert watcher() is None


def test_a_report_cycle_through_its_own_objects_is_collected():
    class Node:
        pass

    node = Node()
    node.me = node
    report = refscope.find_cycles([node])
    node.report = report  # object -> report -> object: gc must see both edges
    watcher = weakref.ref(node)
    del node, report
    gc.collect()
    assert watcher() is None


# --- 3. Sizes from input never abort the process ---------------------------------------


@pytest.mark.parametrize("indent", [10**9, 65, 10**30, -1])
def test_a_huge_json_indent_is_a_value_error(indent):
    node = []
    node.append(node)
    report = refscope.find_cycles([node])
    with pytest.raises(ValueError, match="indent|limits"):
        report.to_json(indent=indent)


@pytest.mark.parametrize("value", [-1, 10**30, 2**32])
def test_out_of_range_limits_are_value_errors(value):
    node = []
    node.append(node)
    report = refscope.find_cycles([node])
    with pytest.raises(ValueError, match="limits are counts from 0"):
        report._analysis.to_text(max_groups=value)


def test_a_json_indent_in_range_works():
    node = []
    node.append(node)
    assert refscope.find_cycles([node]).to_json(indent=64).startswith("{")


# --- 4. and 5. No user code through proxies, instance dicts or descriptors --------------


def test_a_functions_own_sizeof_attribute_is_not_called():
    calls = []

    def function():
        pass

    function.__sizeof__ = lambda: calls.append("sizeof") or 10**12
    function.me = function
    report = refscope.find_cycles([function, function.__dict__])
    sizes = [e.size for c in report.cycles for e in c.entries]
    assert calls == []
    assert sizes and max(sizes) < 10**6


def test_weakref_proxies_and_super_objects_do_not_forward_to_user_code():
    calls = []

    class Spy:
        def __getattribute__(self, name):
            calls.append(name)
            return object.__getattribute__(self, name)

        def __sizeof__(self):
            calls.append("__sizeof__")
            return 10**12

    target = Spy()
    keep = []
    proxy = weakref.proxy(target, lambda _ref: keep)
    keep.append(proxy)  # proxy -> callback -> closure cell -> list -> proxy
    holder = Spy()
    sup = super(Spy, holder)
    object.__setattr__(holder, "sup", sup)  # holder -> super -> holder
    callback = gc.get_referents(proxy)[0]
    closure = callback.__closure__
    objects = [proxy, callback, closure, *closure, keep, holder, sup]
    calls.clear()
    report = refscope.find_cycles(objects)
    assert len(report) == 2
    report.to_text()
    assert calls == []
    sizes = [e.size for c in report.cycles for e in c.entries]
    assert max(sizes) < 10**6


def test_an_exception_subclass_args_property_does_not_run():
    calls = []

    class Spoof(Exception):
        @property
        def args(self):
            calls.append("args")
            return ("spoofed",)

    error = Spoof("real message")
    error.me = error
    report = refscope.find_cycles([error])
    text = report.to_text()
    assert calls == []
    assert "spoofed" not in text


def test_a_classmethod_wrapping_a_user_descriptor_is_not_invoked_while_labelling():
    calls = []

    class Descriptor:
        def __get__(self, obj, owner=None):
            calls.append("__get__")
            return 1

    class Holder:
        attr = classmethod(Descriptor())

        def __init__(self):
            self.other = self

    holder = Holder()
    report = refscope.find_cycles([holder], materialize_dicts=False)
    assert report.cycles[0].labels == [".other"]
    assert calls == []


def test_random_hostile_classes_run_no_user_code():
    """A fuzz-style sweep: classes with properties on every dunder name refscope might
    read, recording descriptors and a recording __getattribute__, in random cycles."""
    import random

    rng = random.Random(20261201)
    calls = []
    names = [
        "__dictoffset__", "__basicsize__", "__itemsize__", "__module__", "__qualname__",
        "__mro__", "__bases__", "__base__", "__dict__", "__flags__", "__name__",
        "__weakrefoffset__", "__sizeof__", "__class__", "args", "__repr__",
    ]

    def recorder(name):
        return property(lambda self: calls.append(name) or None)

    class Recording:
        def __get__(self, obj, owner=None):
            calls.append("Recording.__get__")
            return self

        def __set__(self, obj, value):
            calls.append("Recording.__set__")

    classes = []
    for i in range(30):
        # (`__qualname__` in a class body must be a str, so it is spoofed by the class
        # attribute of the earlier test instead.)
        meta_ns = {
            n: recorder(n) for n in rng.sample(names, 6) if n not in ("__dict__", "__qualname__")
        }
        Meta = type(f"Meta{i}", (type,), meta_ns)
        bases = rng.choice([(), (Exception,), (list,), (dict,)])
        ns = {
            "__getattribute__": lambda self, n, _c=calls: _c.append("getattribute:" + n)
            or object.__getattribute__(self, n),
            "__eq__": lambda self, other, _c=calls: _c.append("eq") or False,
            "__hash__": lambda self, _c=calls: _c.append("hash") or 1,
            "__repr__": lambda self, _c=calls: _c.append("repr") or "r",
            "__sizeof__": lambda self, _c=calls: _c.append("sizeof") or 10**12,
            "data": Recording(),
            "kind": classmethod(Recording()),
        }
        classes.append(Meta(f"Hostile{i}", bases, ns))
    objects = []
    for _ in range(300):
        a, b = rng.choice(classes)(), rng.choice(classes)()
        object.__setattr__(a, "peer", b)
        object.__setattr__(b, "back", a)
        objects += [a, b]
    objects += classes
    calls.clear()
    for materialize in (False, True):
        report = refscope.find_cycles(objects, materialize_dicts=materialize)
        report.to_text()
        report.to_json()
        report.to_dot()
        report.to_svg()
    assert calls == []


# --- 6. Interrupts raised by a user __repr__ propagate ---------------------------------


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_from_a_repr_propagates_with_repr_locals(interrupt):
    class Interrupting:
        def __repr__(self):
            raise interrupt()

    def make():
        local = Interrupting()  # noqa: F841
        frame = sys._getframe()
        return frame

    frame = make()
    report = refscope.find_cycles([frame], repr_locals=True)
    with pytest.raises(interrupt):
        report.to_text()


# --- 10. __dict__ of variable-size builtin subclasses ----------------------------------


@pytest.mark.parametrize(
    "base, value", [(int, 5), (int, -(10**40)), (tuple, (1, 2, 3)), (bytes, b"xyz")]
)
def test_a_cycle_through_the_dict_of_a_var_size_subclass_reads_the_same_everywhere(base, value):
    Sub = type("Sub", (base,), {})
    obj = Sub(value)
    obj.me = obj
    report = refscope.find_cycles([obj])
    assert len(report) == 1
    assert report.cycles[0].labels == [".me"]
    assert report.cycles[0].objects == [obj]


def test_collect_reports_a_var_size_subclass_cycle_without_a_stray_dict():
    Sub = type("Sub", (tuple,), {})
    obj = Sub((1, 2))
    obj.me = obj
    del obj
    report = refscope.collect()
    cycles = [c for c in report.cycles if c.entries[0].type.endswith("Sub")]
    assert len(cycles) == 1
    assert cycles[0].labels == [".me"]


# --- 11. materialize_dicts=False leaves frames as they are -----------------------------


def generator_with_itself_as_local():
    me = yield
    yield me


def test_materialize_dicts_false_leaves_a_suspended_generators_frame_unchanged():
    gen = generator_with_itself_as_local()
    next(gen)
    gen.send(gen)
    frame_holders = [gen] + ([gen.gi_frame] if sys.version_info < (3, 11) else [])
    before = [[type(r).__name__ for r in gc.get_referents(h)] for h in frame_holders]
    report = refscope.find_cycles(frame_holders, materialize_dicts=False, frame_locals=False)
    report.to_text()
    after = [[type(r).__name__ for r in gc.get_referents(h)] for h in frame_holders]
    assert before == after
    assert len(report) == 1
    gen.close()


# --- 15. Suspended generators and coroutines name their frame locals --------------------


def test_a_suspended_generators_local_is_named():
    gen = generator_with_itself_as_local()
    next(gen)
    gen.send(gen)
    objects = [gen] + ([gen.gi_frame] if sys.version_info < (3, 11) else [])
    report = refscope.find_cycles(objects)
    labels = report.cycles[0].labels
    if sys.version_info >= (3, 11):
        assert labels == ["generator frame local me"]
    else:
        assert sorted(labels) == [".gi_frame", "local me"]
    group = report.groups[0]
    assert "me" in group.hint.advice
    gen.close()


def test_an_asyncio_task_that_holds_itself_in_its_coroutine_is_explained():
    async def worker(never):
        me = asyncio.current_task()  # noqa: F841
        await never

    loop = asyncio.new_event_loop()
    try:
        never = loop.create_future()
        task = loop.create_task(worker(never))
        loop.run_until_complete(asyncio.sleep(0))
        coro = task.get_coro()
        objects = [task, coro] + ([coro.cr_frame] if sys.version_info < (3, 11) else [])
        report = refscope.find_cycles(objects)
        labels = [label for c in report.cycles for label in c.labels]
        assert "generator frame local me" in labels or "local me" in labels
        hint = report.groups[0].hint
        assert hint is not None and ("`me`" in hint.advice or "del me" in hint.advice)
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    finally:
        loop.close()


# --- 12. Reports are safe to share between threads --------------------------------------


def test_release_while_another_thread_renders_is_safe():
    class Node:
        pass

    nodes = []
    for _ in range(20000):
        a, b = Node(), Node()
        a.b, b.a = b, a
        nodes += [a, b]
    report = refscope.find_cycles(nodes)
    report.to_text()  # described once, up front
    errors = []
    started = threading.Event()

    def render():
        started.set()
        try:
            for _ in range(5):
                report._analysis.to_json(max_groups=0, max_cycles_per_group=0)
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)

    thread = threading.Thread(target=render)
    thread.start()
    started.wait()
    report.release()
    thread.join()
    assert errors == []
    assert not report.keeps_objects


# --- 13. Internal errors are exceptions, never text on the host's stderr ---------------


def test_an_internal_panic_is_a_refscope_error_with_nothing_on_stderr():
    result = run_isolated(
        """
        import refscope
        from refscope import _core
        try:
            _core._internal_error_for_tests()
        except refscope.RefscopeError as error:
            print("RefscopeError", "a bug in refscope" in str(error))
        """
    )
    assert_ran_cleanly(result, "RefscopeError True")
    assert "panicked" not in result.stderr and "RUST_BACKTRACE" not in result.stderr
