"""A drop-in for objgraph 3.7: ``import refscope.objgraph as objgraph``.

Same functions, signatures, defaults, return values and printed lines as objgraph 3.7.0
(https://mg.pov.lt/objgraph/). What differs is how the work is done:

* Counting (:func:`count`, :func:`typestats`, :func:`by_type`, :func:`at`...) is one pass
  in Rust over ``gc.get_objects()``, reading each object's type pointer: no Python call
  per object, no attribute lookup a metaclass can shadow.
* :func:`find_backref_chain` and :func:`show_backrefs` walk the heap once (Rust, through
  ``tp_traverse``) and then answer "who refers to this?" from that index, instead of one
  ``gc.get_referrers`` scan of the whole heap per object visited.
  :func:`find_ref_chain` searches breadth first in Rust too.
* Pictures need no Graphviz: ``show_refs``/``show_backrefs``/``show_chain`` write the same
  ``.dot`` text as objgraph, and ``.svg``, ``.png`` and ``.html`` files with refscope's own
  layered layout and renderer. Other formats (``.pdf``, ``.gif``...) go through Graphviz's
  ``dot`` exactly as objgraph does. In Jupyter they return an object that shows inline.
* ``growth(..., collect=False)`` counts without running ``gc.collect()`` first (objgraph
  always collects, which frees the very cycles one may be looking for).

Labels follow objgraph: an object's label is its type name and a short description, which
for most objects is ``repr(obj)[:40]`` (so a class's own ``__repr__`` runs, as in
objgraph; its exceptions are caught and shown as ``(unrepresentable)``).
See docs/objgraph.md for the differences in detail.
"""

# The printed formats stay in objgraph's printf notation ('%-*s%9d %+9d', '%g,%g,%g'...),
# so that each can be checked against objgraph's line by line.
# ruff: noqa: UP031

import builtins
import codecs
import collections
import colorsys
import gc
import operator
import os
import re
import subprocess
import sys
import tempfile
import types

from . import _core

__all__ = [
    "at",
    "at_addrs",
    "by_type",
    "count",
    "find_backref_chain",
    "find_ref_chain",
    "get_leaking_objects",
    "get_new_ids",
    "growth",
    "is_proper_module",
    "most_common_types",
    "show_backrefs",
    "show_chain",
    "show_growth",
    "show_most_common_types",
    "show_refs",
    "typestats",
]

__version__ = "3.7.0"  # the objgraph version whose API this module provides


def _running_in_notebook():
    """True inside an IPython kernel that can show pictures (not a terminal shell)."""
    get_ipython = getattr(builtins, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:
        return False
    # Text-only shells: IPython's TerminalInteractiveShell, PyCharm's
    # PyDevTerminalInteractiveShell (the same test objgraph makes).
    return shell is not None and "TerminalInteractiveShell" not in type(shell).__name__


#: Whether show_refs/show_backrefs/show_chain without a filename return a picture
#: object for inline display (set at import, like objgraph's; assignable).
IS_INTERACTIVE = _running_in_notebook()


# Type facts read through ``type``'s own descriptors: a metaclass cannot shadow them.
_type_name = type.__dict__["__name__"].__get__
_type_module = type.__dict__["__module__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_type_dict = type.__dict__["__dict__"].__get__


def _short_type_name(tp):
    return _type_name(tp)


def _long_type_name(tp):
    name = _type_name(tp)
    module = _type_module(tp)
    if module:
        return "%s.%s" % (module, name)
    return name


def _namer(shortnames):
    return _short_type_name if shortnames else _long_type_name


def _as_list(objects):
    if objects is None:
        return gc.get_objects()
    if type(objects) is list:
        return objects
    return list(objects)


def _census(objects, shortnames, filter=None):
    """``{type name: count}`` in order of first appearance, as objgraph's typestats."""
    objects = _as_list(objects)
    try:
        if filter is not None:
            objects = [o for o in objects if filter(o)]
        namer = _namer(shortnames)
        stats = {}
        for row in _core.objgraph_type_census(objects):
            name = namer(row.type)
            stats[name] = stats.get(name, 0) + row.count
        return stats
    finally:
        del objects  # no reference from this frame outlives the call


def _types_named(objects, typename):
    """The distinct types among ``objects`` that objgraph would call ``typename``."""
    namer = _long_type_name if "." in typename else _short_type_name
    census = _core.objgraph_type_census(objects)
    return tuple(row.type for row in census if namer(row.type) == typename)


def count(typename, objects=None):
    """Count objects tracked by the garbage collector with a given class name.

    The class name can optionally be fully qualified ('mymodule.MyClass'). Instead of
    all the objects gc tracks, ``objects`` can be any collection of objects.
    """
    objects = _as_list(objects)
    try:
        namer = _long_type_name if "." in typename else _short_type_name
        census = _core.objgraph_type_census(objects)
        return sum(row.count for row in census if namer(row.type) == typename)
    finally:
        del objects


def typestats(objects=None, shortnames=True, filter=None):
    """Count the number of instances for each type tracked by the GC.

    Returns ``{type name: count}``. With ``shortnames`` classes of one name from
    different modules are lumped together; ``filter(obj)`` returning false leaves an
    object out.
    """
    return _census(objects, shortnames, filter)


def most_common_types(limit=10, objects=None, shortnames=True, filter=None):
    """The names of the types with the most instances: ``[(type name, count), ...]``,
    most frequent first, at most ``limit`` of them (None: all)."""
    stats = sorted(
        _census(objects, shortnames, filter).items(),
        key=operator.itemgetter(1),
        reverse=True,
    )
    if limit:
        stats = stats[:limit]
    return stats


def show_most_common_types(limit=10, objects=None, shortnames=True, file=None, filter=None):
    """Print the table of types of most common instances."""
    if file is None:
        file = sys.stdout
    stats = most_common_types(limit, objects, shortnames=shortnames, filter=filter)
    width = max(len(name) for name, _ in stats)
    for name, n in stats:
        file.write("%-*s %i\n" % (width, name, n))


def growth(limit=10, peak_stats={}, shortnames=True, filter=None, *, collect=True):  # noqa: B006
    """The increase in peak object counts since the last call.

    Returns ``[(type name, total count, increase), ...]``, largest increase first, at
    most ``limit`` of them (None: all). ``peak_stats`` maps type names to the peak counts
    seen so far and is updated (by default one dict shared by every call, as in
    objgraph). ``collect=False`` skips the ``gc.collect()`` objgraph always runs first,
    so objects that only a cycle keeps alive are counted too.
    """
    if collect:
        gc.collect()
    stats = _census(None, shortnames, filter)
    deltas = {}
    for name, n in stats.items():
        old = peak_stats.get(name, 0)
        if n > old:
            deltas[name] = n - old
            peak_stats[name] = n
    ranked = sorted(deltas.items(), key=operator.itemgetter(1), reverse=True)
    if limit:
        ranked = ranked[:limit]
    return [(name, stats[name], delta) for name, delta in ranked]


def show_growth(limit=10, peak_stats=None, shortnames=True, file=None, filter=None, *,
                collect=True):
    """Print the increase in peak object counts since the last call (see :func:`growth`)."""
    if peak_stats is None:
        result = growth(limit, shortnames=shortnames, filter=filter, collect=collect)
    else:
        result = growth(limit, peak_stats, shortnames, filter, collect=collect)
    if result:
        if file is None:
            file = sys.stdout
        width = max(len(name) for name, _, _ in result)
        for name, n, delta in result:
            file.write("%-*s%9d %+9d\n" % (width, name, n, delta))


def get_new_ids(skip_update=False, limit=10, sortby="deltas", shortnames=None, file=None,
                _state={}):  # noqa: B006
    """Find and display new objects allocated since the last call.

    Returns ``{type name: set of id()s}`` of the objects that appeared since the last
    call, and prints (up to ``limit`` rows, 0 for none) the old, current and new counts
    sorted by ``sortby`` ('old', 'current', 'new' or 'deltas'). ``skip_update`` returns
    the last result unchanged. ``shortnames=None`` keeps the previous call's choice.
    """
    if not _state:
        _state["old"] = collections.defaultdict(set)
        _state["current"] = collections.defaultdict(set)
        _state["new"] = collections.defaultdict(set)
        _state["shortnames"] = True
    new_ids = _state["new"]
    if skip_update:
        return new_ids
    old_ids = _state["old"]
    current_ids = _state["current"]
    if shortnames is None:
        shortnames = _state["shortnames"]
    else:
        _state["shortnames"] = shortnames
    gc.collect()
    for name in old_ids:
        old_ids[name].clear()
    for name, ids in current_ids.items():
        old_ids[name].update(ids)
    for name in current_ids:
        current_ids[name].clear()
    namer = _namer(shortnames)
    objects = gc.get_objects()
    try:
        for row in _core.objgraph_addresses_by_type(objects):
            current_ids[namer(row.type)].update(row.addresses)
    finally:
        del objects
    for name in new_ids:
        new_ids[name].clear()
    rows = []
    empty = []
    for name in current_ids:
        n_old = len(old_ids[name])
        n_current = len(current_ids[name])
        if n_old == 0 and n_current == 0:
            empty.append(name)
            continue
        fresh = current_ids[name] - old_ids[name]
        new_ids[name].update(fresh)
        rows.append((name, n_old, n_current, len(fresh), n_current - n_old))
    for name in empty:
        del old_ids[name]
        del current_ids[name]
        del new_ids[name]
    column = {"old": 1, "current": 2, "new": 3, "deltas": 4}[sortby]
    rows.sort(key=operator.itemgetter(column, 0), reverse=True)
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        return new_ids
    if file is None:
        file = sys.stdout
    width = max(len(row[0]) for row in rows)
    rule = "=" * (width + 13 * 4)
    print(rule, file=file)
    print("%-*s%13s%13s%13s%13s"
          % (width, "Type", "Old_ids", "Current_ids", "New_ids", "Count_Deltas"), file=file)
    print(rule, file=file)
    for name, n_old, n_current, n_new, delta in rows:
        print("%-*s%13d%13d%+13d%+13d" % (width, name, n_old, n_current, n_new, delta),
              file=file)
    print(rule, file=file)
    return new_ids


def get_leaking_objects(objects=None):
    """The objects (of ``objects``, default all gc tracks) that no object gc tracks refers to."""
    gc.collect()
    everything = gc.get_objects()
    candidates = everything if objects is None else _as_list(objects)
    try:
        return _core.objgraph_unreferenced(everything, candidates, [id(objects)])
    finally:
        del everything, candidates, objects


def by_type(typename, objects=None):
    """The objects gc tracks (or of ``objects``) whose class is named ``typename``
    (optionally fully qualified: 'package.module.ClassName')."""
    objects = _as_list(objects)
    try:
        return _core.objgraph_select_types(objects, _types_named(objects, typename))
    finally:
        del objects


def at(addr):
    """The object gc tracks whose ``id()`` is ``addr``, or None (the reverse of id())."""
    objects = gc.get_objects()
    try:
        found = _core.objgraph_select_addresses(objects, [addr]) if isinstance(addr, int) else []
    finally:
        del objects
    return found[0] if found else None


def at_addrs(address_set):
    """The objects gc tracks whose ``id()`` is in ``address_set``."""
    addresses = [a for a in address_set if isinstance(a, int)]
    objects = gc.get_objects()
    try:
        return _core.objgraph_select_addresses(objects, addresses)
    finally:
        del objects


def _ignored_ids(extra_ignore, *more):
    ignore = set(extra_ignore)
    ignore.add(id(extra_ignore))
    ignore.update(more)
    return list(ignore)


def find_ref_chain(obj, predicate, max_depth=20, extra_ignore=()):
    """A shortest chain of references ``[obj, ..., match]`` leading from ``obj`` to an
    object for which ``predicate`` is true; ``[obj]`` if there is none within
    ``max_depth`` steps. ``extra_ignore``: ids of objects not to follow."""
    ignore = _ignored_ids(extra_ignore, id(sys._getframe()))
    gc.collect()
    return _core.objgraph_find_ref_chain(obj, predicate, max_depth, ignore)


def find_backref_chain(obj, predicate, max_depth=20, extra_ignore=()):
    """A shortest chain of references ``[match, ..., obj]`` leading to ``obj`` from an
    object for which ``predicate`` is true (e.g. :func:`is_proper_module`); ``[obj]`` if
    there is none within ``max_depth`` steps. ``extra_ignore``: ids of objects to skip."""
    ignore = _ignored_ids(extra_ignore, id(sys._getframe()))
    gc.collect()
    index = _core.objgraph_referrer_index(gc.get_objects(), ignore)
    try:
        return index.shortest_chain(obj, predicate, max_depth)
    finally:
        index.close()
        del index


def show_backrefs(objs, max_depth=3, extra_ignore=(), filter=None, too_many=10,
                  highlight=None, filename=None, extra_info=None,
                  refcounts=False, shortnames=True, output=None,
                  extra_node_attrs=None):
    """Draw the graph of the objects that refer to ``objs``, directly and indirectly.

    ``objs``: an object or a list of objects. ``filename``: a ``.dot``, ``.svg``,
    ``.png`` or ``.html`` file written by refscope (any other extension is handed to
    Graphviz's ``dot``); ``output``: a text file object that gets the DOT source (not
    both). With neither, the picture is returned for inline display in Jupyter, or
    written as a temporary ``.dot`` file and shown with ``xdot`` (else written as PNG).
    ``max_depth``/``too_many`` bound depth and breadth; ``filter`` (a predicate) and
    ``extra_ignore`` (ids) leave objects out; ``highlight`` (a predicate) highlights
    nodes; ``extra_info(obj)`` adds a label line; ``extra_node_attrs(obj)`` adds DOT node
    attributes; ``refcounts`` shows reference counts; ``shortnames=False`` shows
    qualified type names. Modules (in ``sys.modules``) are not expanded further.
    """
    return _draw(objs, backrefs=True, max_depth=max_depth, extra_ignore=extra_ignore,
                 filter=filter, too_many=too_many, highlight=highlight, filename=filename,
                 extra_info=extra_info, refcounts=refcounts, shortnames=shortnames,
                 output=output, cull=is_proper_module, extra_node_attrs=extra_node_attrs)


def show_refs(objs, max_depth=3, extra_ignore=(), filter=None, too_many=10,
              highlight=None, filename=None, extra_info=None,
              refcounts=False, shortnames=True, output=None,
              extra_node_attrs=None):
    """Draw the graph of the objects reachable from ``objs`` (arguments as for
    :func:`show_backrefs`)."""
    return _draw(objs, backrefs=False, max_depth=max_depth, extra_ignore=extra_ignore,
                 filter=filter, too_many=too_many, highlight=highlight, filename=filename,
                 extra_info=extra_info, refcounts=refcounts, shortnames=shortnames,
                 output=output, cull=None, extra_node_attrs=extra_node_attrs)


def show_chain(*chains, **kw):
    """Draw one or more chains of references (from :func:`find_ref_chain` or
    :func:`find_backref_chain`). ``backrefs=False`` traces them forwards; the other
    keywords are those of :func:`show_backrefs`."""
    backrefs = kw.pop("backrefs", True)
    chains = [chain for chain in chains if chain]
    members = {id(o) for chain in chains for o in chain}

    def in_chains(x, ids=members):
        return id(x) in ids

    max_depth = max(map(len, chains)) - 1
    if backrefs:
        return show_backrefs([chain[-1] for chain in chains], max_depth=max_depth,
                             filter=in_chains, **kw)
    return show_refs([chain[0] for chain in chains], max_depth=max_depth,
                     filter=in_chains, **kw)


def is_proper_module(obj):
    """True if ``obj`` is a module that is in ``sys.modules`` (a gc root, roughly)."""
    return (
        issubclass(type(obj), types.ModuleType)
        and obj is sys.modules.get(getattr(obj, "__name__", None))
    )


# --------------------------------------------------------------------------------------
# Drawing


def _node_id(obj):
    return ("o%d" % id(obj)).replace("-", "_")


def _quote(s):
    """Escapes ``s`` for a double-quoted DOT string, as objgraph does."""
    return (s.replace("\\", "\\\\")
             .replace('"', '\\"')
             .replace("\n", "\\n")
             .replace("\0", "\\\\0"))


def _name_or_repr(value):
    try:
        result = value.__name__
    except AttributeError:
        result = repr(value)[:40]
    if issubclass(type(result), str):
        return result
    return repr(value)[:40]


_SHORT_BY_NAME = (type, types.ModuleType, types.BuiltinMethodType, types.BuiltinFunctionType)


def _short_description(obj):
    tp = type(obj)
    if issubclass(tp, _SHORT_BY_NAME):
        return _name_or_repr(obj)
    if issubclass(tp, types.MethodType):
        name = _name_or_repr(obj.__func__)
        # objgraph tests the truth of __self__, which runs the object's __bool__/__len__;
        # a bound method always has a self, so this asks only whether there is one.
        return name + " (bound)" if obj.__self__ is not None else name
    if issubclass(tp, types.FunctionType) and obj.__name__ == "<lambda>":
        return "lambda: %s:%s" % (os.path.basename(obj.__code__.co_filename),
                                  obj.__code__.co_firstlineno)
    if issubclass(tp, types.FrameType):
        return "%s:%s" % (obj.f_code.co_filename, obj.f_lineno)
    if issubclass(tp, (tuple, list, dict, set)):
        return "%d items" % len(obj)
    return repr(obj)[:40]


def _safe_description(obj):
    try:
        return _short_description(obj)
    except Exception:
        return "(unrepresentable)"


def _has_del(obj):
    """``hasattr(obj.__class__, '__del__')`` read from the class dicts along the MRO
    (no ``__class__`` or metaclass ``__getattr__`` involved)."""
    return any("__del__" in _type_dict(k) for k in _type_mro(type(obj)))


def _gradient(start, end, depth, max_depth):
    if max_depth == 0:
        return start
    f = float(depth) / max_depth
    return tuple(a * (1 - f) + b * f for a, b in zip(start, end, strict=True))


def _hsv_hex(h, s, v):
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return "#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255))


_is_identifier = re.compile("[a-zA-Z_][a-zA-Z_0-9]*$").match


_FUNCTION_ATTRIBUTES = sorted(set(dir(types.FunctionType)) | {"__dict__"})


def _function_attribute(source, target, own_dict):
    """The first name in ``dir(source)`` whose value is ``target``, as objgraph looks it
    up, without creating the function's ``__dict__`` or ``__annotations__`` (``dir()``
    and those two getters create them; objgraph lets them)."""
    names = sorted(set(_FUNCTION_ATTRIBUTES) | set(own_dict or ()))
    for name in names:
        if name == "__dict__":
            value = own_dict
        elif name == "__annotations__":
            # The annotations dict, if it exists, is the one dict among the function's
            # referents that no other attribute names.
            if not issubclass(type(target), dict) or target is own_dict:
                continue
            others = (source.__globals__, getattr(source, "__builtins__", None),
                      source.__kwdefaults__)
            if any(target is o for o in others):
                continue
            if any(r is target for r in gc.get_referents(source)):
                return name
            continue
        else:
            try:
                value = getattr(source, name)
            except AttributeError:
                continue
        if target is value:
            return name
    return None


def _edge_label(source, target, namer):
    """``(DOT attributes, label text)`` of the edge source -> target, as objgraph names it."""
    if issubclass(type(target), dict) and target is _core.objgraph_existing_dict(source):
        return ' [label="__dict__",weight=10]', "__dict__"
    if issubclass(type(source), types.FrameType):
        if target is source.f_globals:
            return ' [label="f_globals",weight=10]', "f_globals"
    if issubclass(type(source), types.MethodType):
        if target is source.__self__:
            return ' [label="__self__",weight=10]', "__self__"
        if target is source.__func__:
            return ' [label="__func__",weight=10]', "__func__"
    if issubclass(type(source), types.FunctionType):
        name = _function_attribute(source, target, _core.objgraph_existing_dict(source))
        if name is not None:
            return ' [label="%s",weight=10]' % _quote(name), name
    if issubclass(type(source), dict):
        for k, v in source.items():
            if v is target:
                if issubclass(type(k), str) and _is_identifier(k):
                    return ' [label="%s",weight=2]' % _quote(k), k
                text = namer(type(k)) + "\n" + _safe_description(k)
                return ' [label="%s"]' % _quote(text), text
    return "", ""


class _Diagram:
    """The drawn graph as plain data, for refscope's own renderer."""

    def __init__(self):
        self.nodes = {}  # node id -> [lines, fill, font colour, border, shape, font size]
        self.edges = []  # (from id, to id, label, colour, dotted)

    def node(self, node_id):
        return self.nodes.setdefault(node_id, [[], "#ffffff", "#000000", "#000000", "box", 14.0])

    def for_renderer(self):
        nodes = [(k, v[0], v[1], v[2], v[3], v[4], v[5]) for k, v in self.nodes.items()]
        edges = [e for e in self.edges if e[0] in self.nodes and e[1] in self.nodes]
        return nodes, edges


class Picture:
    """A drawn object graph, as returned in Jupyter: shows itself inline
    (``_repr_svg_``/``_repr_html_``); ``source`` is the DOT text."""

    def __init__(self, source, diagram):
        self.source = source
        self._nodes, self._edges = diagram.for_renderer()
        self._svg = None

    def _repr_svg_(self):
        if self._svg is None:
            self._svg = _core.objgraph_render_svg(self._nodes, self._edges)
        return self._svg

    def _repr_html_(self):
        return '<div class="refscope-objgraph">%s</div>' % self._repr_svg_()

    def save(self, filename):
        """Writes the picture as .dot, .svg, .png or .html (chosen by the extension)."""
        _write_picture(filename, self.source, self._nodes, self._edges)

    def __repr__(self):
        return "<refscope.objgraph.Picture of %d nodes>" % len(self._nodes)


_OWN_FORMATS = (".svg", ".png", ".html", ".htm")


def _write_picture(filename, source, nodes, edges):
    ext = os.path.splitext(filename)[1].lower()
    if ext == ".dot":
        with open(filename, "w", encoding="utf-8") as f:
            f.write(source)
    elif ext == ".svg":
        with open(filename, "w", encoding="utf-8") as f:
            f.write(_core.objgraph_render_svg(nodes, edges))
    elif ext == ".png":
        with open(filename, "wb") as f:
            f.write(_core.objgraph_render_png(nodes, edges))
    elif ext in (".html", ".htm"):
        title = os.path.basename(filename)
        with open(filename, "w", encoding="utf-8") as f:
            f.write(_core.objgraph_render_html(nodes, edges, title))
    else:
        raise ValueError("refscope draws .dot, .svg, .png and .html, not %r" % ext)


def _program_in_path(program):
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return any(os.path.isfile(os.path.join(d, program))
               or os.path.isfile(os.path.join(d, program + ".exe")) for d in path)


def _present(dot_filename, filename, nodes, edges):
    """objgraph's ``_present_graph``, with .svg/.png/.html drawn by refscope."""
    if filename == dot_filename:
        return
    if filename and os.path.splitext(filename)[1].lower() in _OWN_FORMATS:
        with open(dot_filename, encoding="utf-8") as f:
            source = f.read()
        _write_picture(filename, source, nodes, edges)
        print("Image generated as %s" % filename)
    elif not filename and _program_in_path("xdot"):
        print("Spawning graph viewer (xdot)")
        subprocess.Popen(["xdot", dot_filename], close_fds=True)
    elif not filename:
        print("Graph viewer (xdot) not found, generating a png instead")
        filename = dot_filename[:-4] + ".png"
        with open(filename, "wb") as f:
            f.write(_core.objgraph_render_png(nodes, edges))
        print("Image generated as %s" % filename)
    elif _program_in_path("dot"):
        ext = os.path.splitext(filename)[1]
        cmd = ["dot", "-T" + ext[1:], "-o" + filename, dot_filename]
        dot = subprocess.Popen(cmd, close_fds=False)
        dot.wait()
        if dot.returncode != 0:
            print('dot failed (exit code %d) while executing "%s"'
                  % (dot.returncode, " ".join(cmd)))
        else:
            print("Image generated as %s" % filename)
    else:
        print("Image renderer (dot) not found, not doing anything else")


# References to a drawn object that are ours, not the program's, when its reference
# count is read: the getrefcount argument and the drawing loop's variable, plus the one
# objgraph does not discount (it reads the count in a helper called with the object: its
# parameter, and on CPython 3.10 the caller's value stack too), so that the numbers are
# objgraph's. The snapshot of a backwards walk adds one for tracked objects.
_OWN_REFERENCES = 3 if sys.version_info >= (3, 11) else 2


def _draw(objs, backrefs, max_depth, extra_ignore, filter, too_many, highlight, filename,
          extra_info, refcounts, shortnames, output, cull, extra_node_attrs):
    # objgraph reads its callers' f_locals, which on CPython < 3.13 is a dict snapshot
    # holding the object passed (when not in a list): its refcounts count that reference.
    quirk = None
    if not issubclass(type(objs), (list, tuple)):
        objs = [objs]
        if sys.version_info < (3, 13):
            quirk = id(objs[0])
    if filename and output:
        raise ValueError("Cannot specify both output and filename.")
    namer = _namer(shortnames)
    ignore = set(extra_ignore)
    ignore.add(id(objs))
    ignore.add(id(extra_ignore))
    ignore.add(id(sys._getframe()))
    ignore.add(id(sys._getframe(1)))
    gc.collect()
    index = _core.objgraph_referrer_index(gc.get_objects(), list(ignore)) if backrefs else None
    try:
        return _draw_with(objs, backrefs, index, ignore, max_depth, filter, too_many,
                          highlight, filename, extra_info, refcounts, namer, output, cull,
                          extra_node_attrs, quirk)
    finally:
        if index is not None:
            index.close()
        del index


def _draw_with(objs, backrefs, index, ignore, max_depth, filter, too_many, highlight,
               filename, extra_info, refcounts, namer, output, cull, extra_node_attrs,
               quirk):
    out = []
    write = out.append
    diagram = _Diagram()
    write("digraph ObjectGraph {\n"
          "  node[shape=box, style=filled, fillcolor=white];\n")
    queue = collections.deque()
    depth = {}
    for obj in objs:
        write("  %s[fontcolor=red];\n" % _node_id(obj))
        diagram.node(_node_id(obj))[2] = "#ff0000"
        depth[id(obj)] = 0
        queue.append(obj)
        del obj
    ignore.add(id(queue))
    ignore.add(id(depth))
    ignore.add(id(out))
    nodes = 0
    while queue:
        nodes += 1
        target = queue.popleft()
        tdepth = depth[id(target)]
        target_id = _node_id(target)
        node = diagram.node(target_id)
        lines = [namer(type(target))]
        if refcounts:
            own = _OWN_REFERENCES + (1 if index is not None and gc.is_tracked(target) else 0)
            own -= 1 if id(target) == quirk else 0
            lines[0] += " [%d]" % (sys.getrefcount(target) - own)
        lines.append(_safe_description(target))
        if extra_info:
            lines.append(str(extra_info(target)))
        node[0] = lines
        attrs = ""
        if extra_node_attrs is not None:
            extra = extra_node_attrs(target)
            attrs = ", " + ", ".join('%s="%s"' % (name, _quote(value))
                                     for name, value in sorted(extra.items())
                                     if value is not None)
        write('  %s[label="%s"%s];\n' % (target_id, _quote("\n".join(lines)), attrs))
        h, s, v = _gradient((0, 0, 1), (0, 0, .3), tdepth, max_depth)
        if issubclass(type(target), types.ModuleType):
            h = .3
            s = 1
        if highlight and highlight(target):
            h = .6
            s = .6
            v = 0.5 + v * 0.5
        write('  %s[fillcolor="%g,%g,%g"];\n' % (target_id, h, s, v))
        node[1] = _hsv_hex(h, s, v)
        if v < 0.5:
            write("  %s[fontcolor=white];\n" % target_id)
            node[2] = "#ffffff"
        if _has_del(target):
            write("  %s->%s_has_a_del[color=red,style=dotted,len=0.25,weight=10];\n"
                  % (target_id, target_id))
            write('  %s_has_a_del[label="__del__",shape=doublecircle,'
                  'height=0.25,color=red,fillcolor="0,.5,1",fontsize=6];\n' % target_id)
            diagram.nodes[target_id + "_has_a_del"] = [
                ["__del__"], _hsv_hex(0, .5, 1), "#000000", "#ff0000", "doublecircle", 8.0]
            diagram.edges.append((target_id, target_id + "_has_a_del", "", "#ff0000", True))
        if tdepth >= max_depth:
            continue
        if cull is not None and cull(target):
            continue
        neighbours = index.referrers(target) if backrefs else gc.get_referents(target)
        ignore.add(id(neighbours))
        n = 0
        skipped = 0
        for source in neighbours:
            if id(source) in ignore:
                continue
            if filter and not filter(source):
                continue
            if n >= too_many:
                skipped += 1
                continue
            src, dst = (source, target) if backrefs else (target, source)
            dot_attrs, label = _edge_label(src, dst, namer)
            write("  %s -> %s%s;\n" % (_node_id(src), _node_id(dst), dot_attrs))
            diagram.edges.append((_node_id(src), _node_id(dst), label, "#000000", False))
            if id(source) not in depth:
                depth[id(source)] = tdepth + 1
                queue.append(source)
            n += 1
            del source  # as objgraph: src and dst linger, and are counted as it counts them
        del neighbours
        if skipped > 0:
            h, s, v = _gradient((0, 1, 1), (0, 1, .3), tdepth + 1, max_depth)
            more_id = "too_many_" + target_id
            if backrefs:
                label = "%d more backreferences" % skipped
                edge = "%s->%s" % (more_id, target_id)
                diagram.edges.append((more_id, target_id, "", "#ff0000", True))
            else:
                label = "%d more references" % skipped
                edge = "%s->%s" % (target_id, more_id)
                diagram.edges.append((target_id, more_id, "", "#ff0000", True))
            write("  %s[color=red,style=dotted,len=0.25,weight=10];\n" % edge)
            write('  %s[label="%s",shape=box,height=0.25,color=red,fillcolor="%g,%g,%g",'
                  "fontsize=6];\n" % (more_id, label, h, s, v))
            write("  %s[fontcolor=white];\n" % more_id)
            diagram.nodes[more_id] = [[label], _hsv_hex(h, s, v), "#ffffff", "#ff0000",
                                      "box", 8.0]
        del target
    write("}\n")
    source = "".join(out)
    del out, queue, depth

    if output:
        output.write(source)
        return None
    if IS_INTERACTIVE and not filename:
        return Picture(source, diagram)
    nodes_list, edges_list = diagram.for_renderer()
    if filename and filename.endswith(".dot"):
        with codecs.open(filename, "w", encoding="utf-8") as f:
            f.write(source)
        dot_filename = filename
    else:
        fd, dot_filename = tempfile.mkstemp(prefix="objgraph-", suffix=".dot", text=True)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(source)
    print("Graph written to %s (%d nodes)" % (dot_filename, nodes))
    _present(dot_filename, filename, nodes_list, edges_list)
    return None
