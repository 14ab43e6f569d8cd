"""Fix hints on real cycles: the edge to break, how, and why."""

import gc
import sys

import pytest

import refscope


@pytest.fixture
def no_automatic_gc():
    gc.disable()  # the cycles below must still be garbage when refscope.collect() runs
    yield


def only_group(report):
    # pytest's own garbage (an ExceptionInfo cycle after a failed test) is not ours.
    groups = [group for group in report.groups if "_pytest" not in group.signature]
    assert len(groups) == 1, report.to_text(color=False)
    return groups[0]


def hinted_edge(group):
    """(type of the object the hinted edge leaves, its label) in the example cycle."""
    hint = group.hint
    entry = group.example.entries[hint.edge_index]
    assert entry.label == hint.label
    return entry.type.rsplit(".", 1)[-1], hint.label


class Button:
    def __init__(self):
        self.on_click = self.clicked

    def clicked(self):
        pass


class Emitter:
    def __init__(self):
        self.handlers = [self.handle]

    def handle(self):
        pass


class Widget:
    def __init__(self):
        self.name = "w"
        self.callback = lambda: self.name


class Folder:
    def __init__(self):
        self.items = [File(self)]


class File:
    def __init__(self, folder):
        self.folder = folder


class Window:
    def __init__(self):
        self.toolbar = Toolbar(self)


class Toolbar:
    def __init__(self, window):
        self.parent = window


class Connection:
    def __init__(self):
        self.cursor = Cursor(self)

    def __del__(self):
        pass


class Cursor:
    def __init__(self, connection):
        self.connection = connection


class Job:
    def run(self):
        try:
            raise RuntimeError("failed")
        except RuntimeError as error:
            self.error = error


def keep_exception_in_a_local():
    try:
        raise ValueError("boom")
    except ValueError as caught:
        kept = caught  # noqa: F841 - the cycle under test: frame -> kept -> traceback -> frame


def test_bound_method_stored_on_its_own_object_gets_a_weakmethod(no_automatic_gc):
    Button()
    group = only_group(refscope.collect())
    assert group.hint.fix == "weakmethod"
    assert hinted_edge(group) == ("Button", ".on_click")
    assert "weakref.WeakMethod" in group.hint.advice
    assert "__self__" in group.hint.why


def test_bound_method_in_a_list_of_handlers_is_broken_where_the_list_stores_it(no_automatic_gc):
    Emitter()
    group = only_group(refscope.collect())
    assert group.hint.fix == "weakmethod"
    assert hinted_edge(group) == ("list", "[0]")


def test_closure_capturing_its_owner_gets_a_weak_capture(no_automatic_gc):
    Widget()
    group = only_group(refscope.collect())
    assert group.hint.fix == "weak-closure"
    assert hinted_edge(group) == ("Widget", ".callback")
    assert "weakref.ref" in group.hint.advice


def test_exception_kept_in_a_frame_local_is_deleted_with_del(no_automatic_gc):
    keep_exception_in_a_local()
    group = only_group(refscope.collect())
    assert group.hint.fix == "del-exception"
    assert hinted_edge(group) == ("frame", "local kept")
    assert "del kept" in group.hint.advice
    assert "traceback.clear_frames" in group.hint.advice


def test_exception_stored_on_an_object_gets_its_traceback_cleared(no_automatic_gc):
    Job().run()
    group = only_group(refscope.collect())
    assert group.hint.fix == "clear-traceback"
    assert hinted_edge(group) == ("RuntimeError", ".__traceback__")
    assert "__traceback__ = None" in group.hint.advice


def test_exc_info_tuple_in_a_frame_local_is_cleared(no_automatic_gc):
    def handler():
        try:
            raise KeyError("k")
        except KeyError:
            info = sys.exc_info()  # noqa: F841 - frame -> info -> traceback -> frame

    handler()
    group = only_group(refscope.collect())
    assert group.hint.fix == "clear-frame-local"
    assert hinted_edge(group) == ("frame", "local info")


def test_parent_attribute_is_the_back_pointer_to_make_weak(no_automatic_gc):
    Window()
    group = only_group(refscope.collect())
    assert group.hint.fix == "weakref-back-reference"
    assert hinted_edge(group) == ("Toolbar", ".parent")
    assert "weakref.ref" in group.hint.advice


def test_child_attribute_opposite_a_list_of_children_is_the_back_pointer(no_automatic_gc):
    Folder()
    group = only_group(refscope.collect())
    assert group.hint.fix == "weakref-back-reference"
    assert hinted_edge(group) == ("File", ".folder")


def test_cycle_through_a_finaliser_gets_a_context_manager(no_automatic_gc):
    Connection()
    group = only_group(refscope.collect())
    assert group.has_finalizer
    assert group.hint.fix == "context-manager"
    assert "with" in group.hint.advice
    assert "__del__" in group.hint.why


def test_every_group_hint_names_a_real_edge_of_its_example(no_automatic_gc):
    for make in (Button, Emitter, Widget, Folder, Window, Connection, Job().run):
        make()
    del make  # the loop variable still holds Job().run, which keeps that Job alive
    keep_exception_in_a_local()
    groups = [group for group in refscope.collect().groups if "_pytest" not in group.signature]
    assert len(groups) == 8
    for group in groups:
        assert group.hint is not None, group.signature
        assert 0 <= group.hint.edge_index < len(group.example)
        assert group.example.labels[group.hint.edge_index] == group.hint.label
        assert group.hint.advice and group.hint.why


def test_a_list_that_contains_itself_gets_no_hint():
    ring = []
    ring.append(ring)
    group = only_group(refscope.find_cycles([ring]))
    assert group.hint is None


class Owner:
    def __init__(self):
        self.parts = [Part(self)]


class Part:
    def __init__(self, owner):
        setattr(self, "my owner", owner)


class Tree:
    def __init__(self):
        self.children = [Leaf(self)]


class Leaf:
    def __init__(self, tree):
        self._parent = tree


def test_an_attribute_set_with_setattr_is_read_with_getattr_in_the_advice(no_automatic_gc):
    Owner()
    group = only_group(refscope.collect())
    assert group.hint.fix == "weakref-back-reference"
    assert "getattr(self, 'my owner')()" in group.hint.advice
    assert "self.[" not in group.hint.advice


def test_a_leading_underscore_is_kept_in_the_advice(no_automatic_gc):
    Tree()
    group = only_group(refscope.collect())
    assert hinted_edge(group) == ("Leaf", "._parent")
    assert "self._parent()" in group.hint.advice


def test_functions_defined_by_exec_in_a_namespace_get_a_namespace_hint(no_automatic_gc):
    namespace = {}
    exec("def handler():\n    return 1\n", namespace)
    del namespace["__builtins__"]
    del namespace
    group = only_group(refscope.collect())
    assert group.hint.fix == "clear-namespace"
    assert "namespace.clear()" in group.hint.advice


def make_recursive_helper():
    def walk(n):
        return 0 if n == 0 else walk(n - 1)

    return walk(3)


def test_a_recursive_nested_function_is_explained_as_such(no_automatic_gc):
    make_recursive_helper()
    group = only_group(refscope.collect())
    assert group.hint.fix == "self-recursive-closure"
    assert "`walk`" in group.hint.advice
