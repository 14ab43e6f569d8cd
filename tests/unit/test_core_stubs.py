"""_core.pyi describes the native module as built: same names, same parameters."""

import ast
import inspect
from pathlib import Path

from refscope import _core

STUB = Path(_core.__file__).with_name("_core.pyi")


def stub_functions():
    """{qualified name: [parameter names]} of every def in the stub."""
    tree = ast.parse(STUB.read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f"{node.name}.{item.name}"] = item
    params = {}
    for name, fn in found.items():
        args = fn.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        params[name] = [n for n in names if n != "self"]
    return params


def native_functions():
    params = {}
    members = [("", _core)] + [("CycleAnalysis.", _core.CycleAnalysis)]
    for prefix, owner in members:
        for name in dir(owner):
            if name.startswith("__") and name != "__len__":
                continue
            value = getattr(owner, name)
            signature = getattr(value, "__text_signature__", None)
            if signature is None:
                if isinstance(value, property) or type(value).__name__ == "getset_descriptor":
                    params[prefix + name] = []
                continue
            sig = inspect.Signature.from_callable(value) if callable(value) else None
            if sig is not None:
                params[prefix + name] = [p for p in sig.parameters if p not in ("self", "$self")]
    return params


def test_the_stub_ships_next_to_the_extension():
    assert STUB.is_file()


def test_every_native_function_and_method_is_in_the_stub_with_its_parameters():
    stub = stub_functions()
    for name, params in native_functions().items():
        assert name in stub, f"{name} missing from _core.pyi"
        assert stub[name] == params, f"{name}: stub {stub[name]} vs native {params}"
