#!/usr/bin/env python3
"""The layer contract of `make lint`: some parts of refscope use only its public API.

The command line, the integrations and the pytest plugin are clients of refscope like any
user's code: they may import ``refscope`` and its public submodules, never
``refscope._core`` or another private module (a module path component starting with
``_``), nor a private name (``from refscope._report import x``, ``refscope._colour_wanted``,
``from refscope import _helper``), not even a private helper of its own package: the
command line's shared helpers are ``refscope.cli.common``, the integrations'
``refscope.integrations.render`` and ``refscope.integrations.security``.

    python scripts/check_import_contract.py            # check ENFORCED, list PENDING
    python scripts/check_import_contract.py --all      # check PENDING too
    python scripts/check_import_contract.py --root DIR PATH...   # check PATHs under DIR

Exit code 0 when the checked paths keep the contract, 1 with one line per violation.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

# Paths (from the repository root) that must use only the public API.
ENFORCED = [
    "python/refscope/cli",
    "python/refscope/integrations",
    "python/refscope/pytest_plugin.py",
]
# Paths that will be enforced once they no longer import private modules (issue 15):
# move a line from here to ENFORCED to switch its check on.
PENDING: list[str] = []
PACKAGE = "refscope"
SOURCE_ROOT = "python"  # the directory that holds the package


def module_name(file: Path, source_root: Path) -> tuple[str, bool]:
    """The dotted module name of ``file`` and whether it is a package ``__init__``."""
    parts = list(file.relative_to(source_root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def is_private(component: str) -> bool:
    return component.startswith("_") and not (
        component.startswith("__") and component.endswith("__")
    )


def private_part(module: str) -> str | None:
    """The first private component of a refscope module path."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    for index, component in enumerate(parts):
        if is_private(component):
            return ".".join(parts[: index + 1])
    return None


def resolve(level: int, module: str | None, current: str, is_package: bool) -> str:
    """The absolute module of ``from <level dots><module> import ...`` in ``current``."""
    if level == 0:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def check_file(file: Path, source_root: Path) -> list[str]:
    current, is_package = module_name(file, source_root)
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    problems: list[str] = []
    refscope_aliases: set[str] = set()

    def report(node: ast.AST, what: str) -> None:
        problems.append(
            f"{file}:{getattr(node, 'lineno', 0)}: {what} "
            "(only refscope's public API may be used here)"
        )

    def check_module(node: ast.AST, module: str) -> None:
        private = private_part(module)
        if private is not None:
            report(node, f"imports private module {private}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(node, alias.name)
                if alias.name == PACKAGE or (
                    alias.asname is None and alias.name.startswith(PACKAGE + ".")
                ):
                    refscope_aliases.add(alias.asname or PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node.level, node.module, current, is_package)
            check_module(node, module)
            if module == PACKAGE or module.startswith(PACKAGE + "."):
                for alias in node.names:
                    target = f"{module}.{alias.name}"
                    if is_private(alias.name) and private_part(target):
                        report(node, f"imports private name {target}")
        elif isinstance(node, ast.Call):
            function = node.func
            name = getattr(function, "attr", None) or getattr(function, "id", None)
            if (
                name in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                check_module(node, node.args[0].value)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in refscope_aliases
            and is_private(node.attr)
        ):
            report(node, f"uses private name {PACKAGE}.{node.attr}")
    return problems


def check_path(root: Path, path: str) -> list[str]:
    source_root = root / SOURCE_ROOT
    target = root / path
    if not target.exists():
        return [f"{target}: no such file or directory (fix the contract's path list)"]
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    problems: list[str] = []
    for file in files:
        problems.extend(check_file(file, source_root))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--all", action="store_true", help="check the PENDING paths too")
    parser.add_argument("paths", nargs="*", help="paths to check instead of ENFORCED")
    args = parser.parse_args(argv)
    enforced = args.paths or ENFORCED + (PENDING if args.all else [])
    problems = [problem for path in enforced for problem in check_path(args.root, path)]
    for problem in problems:
        print(problem)
    if not args.paths and not args.all:
        for path in PENDING:
            waiting = len(check_path(args.root, path))
            if waiting:
                print(f"import contract: {path} not enforced yet ({waiting} private imports)")
    if problems:
        print(f"import contract: {len(problems)} violation(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
