"""report.groups: cycles of one shape collapse into one group with a count, a size and a key."""

import gc
import weakref

import refscope


class Parent:
    pass


class Child:
    def __init__(self, parent):
        self.parent = parent


class Finalised:
    def __del__(self):
        pass


class Loop:
    pass


def make_pair():
    parent = Parent()
    parent.child = Child(parent)
    return parent


def both(parent):
    """The objects of one pair: find_cycles analyses exactly the objects it is given."""
    return [parent, parent.child]


def fnv1a64_key(text):
    """Reference FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/), first 12 hex digits."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value ^= byte
        value = (value * 0x100000001B3) % 2**64
    return f"{value:016x}"[:12]


def name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def test_ten_thousand_identical_leaks_are_one_group_with_a_count_of_ten_thousand():
    gc.disable()  # so that no automatic collection frees some of them first
    for _ in range(10_000):
        make_pair()
    report = refscope.collect()
    groups = report.groups
    assert len(report) == 10_000
    assert len(groups) == 1
    (group,) = groups
    assert group.count == 10_000
    assert group.signature == f"{name(Child)} .parent -> {name(Parent)} .child"


def test_cycles_that_start_at_different_members_share_one_signature():
    a, b = make_pair(), make_pair()
    # The representative cycle starts at the first object of each component in input
    # order: a Parent for one pair, a Child for the other.
    report = refscope.find_cycles([a, a.child, b.child, b])
    starts = {cycle.types[0] for cycle in report.cycles}
    assert starts == {name(Parent), name(Child)}
    (group,) = report.groups
    assert group.count == 2


def test_group_key_is_the_first_twelve_hex_digits_of_the_signatures_fnv1a_hash():
    report = refscope.find_cycles(both(make_pair()))
    (group,) = report.groups
    assert group.key == fnv1a64_key(group.signature)
    assert len(group.key) == 12 and int(group.key, 16) >= 0


class Ünïcode:
    pass


def test_signature_head_is_the_signatures_first_characters_counted_as_characters():
    first = Ünïcode()
    first.nëxt = Ünïcode()
    first.nëxt.nëxt = first
    (group,) = refscope.find_cycles([first, first.nëxt]).groups
    signature = group.signature
    assert "Ünïcode .nëxt" in signature
    for limit in (1, 5, len(name(Ünïcode)) + 3, len(signature) - 1):
        assert group.signature_head(limit) == signature[:limit]
    assert group.signature_head(len(signature) + 10) == signature
    assert group.signature_head(0) == signature  # 0 = no limit, as for the other options
    assert repr(group).endswith(f": {signature[:120]}>")


def test_group_key_is_the_same_in_another_report_of_the_same_shape():
    first = refscope.find_cycles([*both(make_pair()), Loop()]).groups
    loop = Loop()
    loop.me = loop
    second = refscope.find_cycles([loop, *both(make_pair())]).groups
    pair_key = {g.signature: g.key for g in first}
    assert {g.signature: g.key for g in second}[first[0].signature] == pair_key[first[0].signature]


def test_groups_are_ordered_by_count_then_total_size():
    objects = []
    for _ in range(3):
        objects += both(make_pair())
    small = Loop()
    small.me = small
    big = Loop()
    big.me = big
    big.payload = list(range(10))
    big_list = [None]
    big_list[0] = big_list
    big_list.extend(range(1000))
    objects += [small, big_list]
    report = refscope.find_cycles(objects)
    groups = report.groups
    assert [g.count for g in groups] == [3, 1, 1]
    assert groups[1].total_size >= groups[2].total_size
    assert groups[1].signature == "list [0]"


def test_total_size_adds_up_the_shallow_sizes_of_every_cycle_in_the_group():
    report = refscope.find_cycles([o for _ in range(4) for o in both(make_pair())])
    (group,) = report.groups
    expected = sum(entry.size for cycle in report.cycles for entry in cycle.entries)
    assert group.total_size == expected > 0


def test_group_with_a_finaliser_is_flagged_and_others_are_not():
    held = Finalised()
    held.me = held
    report = refscope.find_cycles([held, *both(make_pair())])
    by_signature = {g.signature: g for g in report.groups}
    assert by_signature[f"{name(Finalised)} .me"].has_finalizer is True
    assert by_signature[f"{name(Child)} .parent -> {name(Parent)} .child"].has_finalizer is False


def test_example_is_a_real_cycle_of_the_group_with_its_objects_when_kept():
    pair = make_pair()
    report = refscope.find_cycles(both(pair))
    example = report.groups[0].example
    assert isinstance(example, refscope.Cycle)
    assert set(map(id, example.objects)) == {id(pair), id(pair.child)}
    assert sorted(example.labels) == [".child", ".parent"]


def test_groups_of_a_report_without_objects_still_have_examples_with_descriptions():
    for _ in range(3):
        make_pair()
    report = refscope.collect(keep_objects=False)
    (group,) = report.groups
    assert group.example.objects is None
    assert {e.type for e in group.example.entries} == {name(Parent), name(Child)}


def test_a_report_without_cycles_has_no_groups():
    assert refscope.find_cycles([Loop(), [1, 2]]).groups == []


def test_groups_keep_their_report_alive_and_let_it_go_without_a_collection():
    report = refscope.find_cycles(both(make_pair()))
    alive = weakref.ref(report)
    groups = report.groups
    del report
    assert alive() is not None
    gc.disable()
    del groups
    assert alive() is None


def test_groups_and_hints_are_exported_from_the_package():
    report = refscope.find_cycles(both(make_pair()))
    (group,) = report.groups
    assert isinstance(group, refscope.CycleGroup)
    assert isinstance(group.hint, refscope.FixHint)
    assert "×1" in repr(group)


def test_reports_groups_hints_and_renderings_leave_no_cycles_of_refscopes_own():
    objects = both(make_pair())
    gc.collect()
    gc.disable()
    report = refscope.find_cycles(objects)
    groups = report.groups
    example = groups[0].example
    assert groups[0].hint is not None
    report.to_text(color=False), report.to_json(), report.to_dot()
    del report, groups, example
    objects[0].child = objects[1].parent = None  # the analysed cycle itself, broken by hand
    del objects
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    gc.set_debug(0)
    ours = [o for o in gc.garbage if type(o).__module__.startswith("refscope")]
    del gc.garbage[:]
    assert ours == []
