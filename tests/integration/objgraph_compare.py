"""Prints, as JSON, what objgraph 3.7.0 and refscope.objgraph produce for the same heap.

    python objgraph_compare.py OBJGRAPH_DIR

OBJGRAPH_DIR holds objgraph 3.7.0's objgraph.py (from its sdist). Both modules draw the
same objects with the same options to a text file object (``output=``), and count the
same heap; the caller compares the two results.
"""

import gc
import io
import json
import sys

sys.path.insert(0, sys.argv[1])
import objgraph as theirs  # noqa: E402

import refscope.objgraph as ours  # noqa: E402


class Finalized:
    def __del__(self):
        pass


class Hostile:
    def __repr__(self):
        return '</text><script>alert("x")</script>\\ \n \0 {}[]'


class Broken:
    def __repr__(self):
        raise RuntimeError("no repr")


class Node:
    def __init__(self, *neighbours):
        self.neighbours = list(neighbours)


def heap():
    a = Node()
    b = Node(a)
    c = Node(b, Finalized())
    a.neighbours.append(c)
    weird = {"ok": a, "not an identifier": b, 3: c, Hostile(): Broken(), "\0\n\"": [a]}
    return {"a": a, "weird": weird, "hostile": [Hostile(), Broken(), Finalized()],
            "numbers": list(range(20)), "chain": [[[a]]]}


def drawings(module, roots):
    out = {}
    cases = {
        "refs": dict(max_depth=3),
        "refs_deep_many": dict(max_depth=5, too_many=3),
        "refs_long_names": dict(shortnames=False, max_depth=2),
        "refs_extras": dict(max_depth=2, extra_info=lambda o: f"id {id(o) % 7}",
                            highlight=lambda o: isinstance(o, Node),
                            extra_node_attrs=lambda o: {"URL": "x\"y", "tooltip": None}),
        "refs_filtered": dict(max_depth=4, filter=lambda o: not isinstance(o, Finalized)),
    }
    for name, options in cases.items():
        for root_name in ("weird", "hostile", "numbers", "chain"):
            f = io.StringIO()
            module.show_refs([roots[root_name]], output=f, **options)
            out[f"{name}/{root_name}"] = f.getvalue()
    f = io.StringIO()
    module.show_refs(roots["a"], output=f, refcounts=True)
    out["refcounts"] = f.getvalue()
    f = io.StringIO()
    chain = module.find_ref_chain(roots["chain"], lambda o: isinstance(o, Node))
    module.show_chain(chain, backrefs=False, output=f)
    out["chain_forward"] = f.getvalue()
    out["chain_forward_len"] = len(chain)
    return out


def counts(module):
    gc.collect()
    return {
        "count_node": module.count("Node"),
        "count_long": module.count("__main__.Node"),
        "typestats_node": module.typestats().get("Node"),
        "typestats_long": module.typestats(shortnames=False).get("__main__.Finalized"),
        "by_type": len(module.by_type("Finalized")),
        "most_common_given": module.most_common_types(objects=[[], [], {}, (), Node()]),
    }


def main():
    roots = heap()
    gc.disable()  # the same heap for both
    try:
        # objgraph's labelling creates the __dict__ and __annotations__ of the functions
        # it labels (refscope's does not): one run first, so that both draw one heap.
        drawings(theirs, roots)
        result = {
            "ours": {**drawings(ours, roots), **counts(ours)},
            "theirs": {**drawings(theirs, roots), **counts(theirs)},
        }
    finally:
        gc.enable()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
