"""refscope.assert_no_cycles(): a context manager and decorator that fails on new cycles."""

import asyncio
import gc

import pytest

import refscope
from refscope import CyclesFoundError


class Node:
    pass


class Child(Node):
    pass


class Unrelated:
    pass


def make_cycle(cls=Node):
    node = cls()
    node.me = node


def make_pair(cls=Node):
    first, second = cls(), cls()
    first.partner, second.partner = second, first


def test_a_block_without_cycles_passes():
    with refscope.assert_no_cycles():
        data = {"key": [1, 2, 3]}
        del data


def test_a_block_with_a_cycle_raises_an_assertion_error_carrying_the_report():
    with pytest.raises(AssertionError) as info:
        with refscope.assert_no_cycles():
            make_cycle()
    error = info.value
    assert isinstance(error, CyclesFoundError)
    assert len(error.report) == 1
    assert [cycle.types for cycle in error.cycles] == [["test_assert_no_cycles.Node"]]
    assert error.allowed_count == 0


def test_the_message_shows_each_group_with_its_count_signature_and_fix():
    with pytest.raises(CyclesFoundError) as info:
        with refscope.assert_no_cycles():
            for _ in range(3):
                make_pair()
            make_cycle(Unrelated)
    message = str(info.value)
    assert message.startswith("refscope: 4 reference cycles (2 shapes) became garbage in the block")
    assert "test_assert_no_cycles.Node .partner -> test_assert_no_cycles.Node .partner" in message
    assert "test_assert_no_cycles.Unrelated .me" in message
    assert "Group 1: ×3, " in message and "Group 2: ×1, " in message
    assert message.count("  Fix (edge ") == 2
    assert "--[.partner]-->" in message
    assert [group.count for group in info.value.groups] == [3, 1]


def test_the_message_is_capped_at_five_groups():
    shapes = [type(f"Shape{i}", (), {}) for i in range(8)]
    with pytest.raises(CyclesFoundError) as info:
        with refscope.assert_no_cycles():
            for cls in shapes:
                make_cycle(cls)
    message = str(info.value)
    assert "Group 5:" in message
    assert "Group 6:" not in message
    assert "… 3 more groups" in message
    assert len(info.value.groups) == 8
    del shapes


def test_a_decorated_function_is_checked_on_every_call_and_keeps_its_result():
    @refscope.assert_no_cycles
    def build(make):
        if make:
            make_cycle()
        return "built"

    assert build(False) == "built"
    assert build.__name__ == "build"
    with pytest.raises(CyclesFoundError):
        build(True)


def test_the_decorator_takes_options_when_called():
    @refscope.assert_no_cycles(allow=[Node])
    def build():
        make_cycle()
        return 7

    assert build() == 7


def test_an_async_function_is_checked_across_its_awaits():
    @refscope.assert_no_cycles
    async def fetch(make):
        await asyncio.sleep(0)
        if make:
            make_pair()
        await asyncio.sleep(0)
        return "fetched"

    runner = asyncio.Runner() if hasattr(asyncio, "Runner") else None
    if runner is None:
        loop = asyncio.new_event_loop()
        run = loop.run_until_complete
    else:
        run = runner.run
    try:
        assert run(fetch(False)) == "fetched"
        with pytest.raises(CyclesFoundError):
            run(fetch(True))
    finally:
        if runner is None:
            loop.close()
        else:
            runner.close()


@pytest.mark.parametrize(
    "allow",
    [
        Node,
        "test_assert_no_cycles.Node",
        "Node",
        ["Unrelated, Node"],
        lambda cycle: cycle.types[0].endswith(".Node"),
    ],
    ids=["type", "qualified-name", "short-name", "comma-list", "predicate"],
)
def test_allowed_cycles_do_not_fail(allow):
    with refscope.assert_no_cycles(allow=allow):
        make_cycle(Node)


def test_a_type_allows_its_subclasses_too():
    with refscope.assert_no_cycles(allow=Node):
        make_cycle(Child)


def test_allowed_cycles_are_counted_and_the_others_still_fail():
    with pytest.raises(CyclesFoundError) as info:
        with refscope.assert_no_cycles(allow=["Node"]):
            make_cycle(Node)
            make_cycle(Unrelated)
    error = info.value
    assert error.allowed_count == 1
    assert [cycle.types for cycle in error.cycles] == [["test_assert_no_cycles.Unrelated"]]
    assert "1 more allowed" in str(error)
    assert "Node .me" not in str(error).replace("Unrelated .me", "")


def test_a_cycle_is_allowed_when_any_object_of_its_component_is_allowed():
    with refscope.assert_no_cycles(allow=Unrelated):
        node, other = Node(), Unrelated()
        node.other, other.node = other, node
        del node, other


def test_a_bad_allow_entry_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="allow entries must be types, type names or predicates"):
        refscope.assert_no_cycles(allow=[3])
    with pytest.raises(TypeError, match="not int"):
        refscope.assert_no_cycles(allow=3)


def test_allow_by_name_runs_no_metaclass_code():
    looked_up = []

    class Meta(type):
        def __getattribute__(cls, name):
            looked_up.append(name)
            return super().__getattribute__(name)

    class Hostile(metaclass=Meta):
        pass

    with pytest.raises(CyclesFoundError):
        with refscope.assert_no_cycles(allow="SomethingElse"):
            make_cycle(Hostile)
            looked_up.clear()
    assert looked_up == []
    del Hostile, Meta


def test_the_blocks_own_exception_propagates_unchanged():
    with pytest.raises(KeyError):
        with refscope.assert_no_cycles():
            make_cycle()
            raise KeyError("own failure")


def test_a_failed_check_leaves_no_cycle_of_refscopes_own():
    with refscope.capture() as outer:
        try:
            with refscope.assert_no_cycles(allow=[lambda cycle: False]):
                make_cycle()
        except CyclesFoundError:
            pass
    # only the user's cycle: nothing from the error, its traceback or refscope's frames
    assert [cycle.types for cycle in outer.report.cycles] == [["test_assert_no_cycles.Node"]]


def test_a_passing_check_leaves_no_cycle_of_refscopes_own():
    with refscope.capture() as outer:
        with refscope.assert_no_cycles(allow=Node):
            pass

        @refscope.assert_no_cycles
        def clean():
            return 1

        clean()
    assert len(outer.report) == 0, outer.report.to_text(color=False)


def test_one_check_object_cannot_watch_two_blocks_at_once():
    check = refscope.assert_no_cycles()
    with check:
        with pytest.raises(RuntimeError, match="already checking a block"):
            with check:
                pass


def test_the_error_does_not_keep_the_analysed_objects_alive():
    with pytest.raises(CyclesFoundError) as info:
        with refscope.assert_no_cycles(allow=["Unrelated"]):
            make_cycle(Node)
    assert not info.value.report.keeps_objects
    gc.collect()
    assert not any(type(obj) is Node for obj in gc.get_objects())


def test_the_error_pickles_as_a_plain_assertion_error_with_its_message():
    import pickle

    with pytest.raises(CyclesFoundError) as info:
        with refscope.assert_no_cycles():
            make_cycle()
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is AssertionError
    assert str(copy) == str(info.value)
