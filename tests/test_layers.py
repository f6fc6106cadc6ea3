"""The layering of ARCHITECTURE.md, read from every import in the source tree.

Imports point down only: webui -> engine -> registry_app -> accounts -> platformkit, and
runtime/ beneath them all, free of Django, Celery, Channels and Redis. No app imports the
project package (dockyard/), and the dashboard reaches hosts only through the engine.
Each `import`, `from ... import` and `import_module("...")` counts, wherever it sits in a
module (inside functions too).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "engine", "registry_app", "webui")
FRAMEWORKS = ("django", "celery", "channels", "channels_redis", "redis", "kombu", "asgiref")

# What each package must never import (top-level names).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "runtime": (*APPS, "dockyard", "platformkit", *FRAMEWORKS),
    "platformkit": (*APPS, "dockyard"),
    "accounts": ("engine", "registry_app", "webui", "dockyard"),
    "registry_app": ("engine", "webui", "dockyard"),
    "engine": ("webui", "dockyard"),
    "webui": ("runtime", "dockyard"),
}


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module name) of every absolute import in a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            value = getattr(node.args[0], "value", None)
            # A relative name stays inside its package, like `from . import x`.
            absolute = isinstance(value, str) and not value.startswith(".")
            if name in ("import_module", "__import__") and absolute:
                found.append((node.lineno, value))
    return found


def violations(package: str) -> list[str]:
    banned = FORBIDDEN[package]
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in imported_names(tree):
            if name.split(".")[0] in banned:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("package", FORBIDDEN)
def test_imports_point_down_only(package):
    assert violations(package) == []


def test_the_check_sees_imports_inside_functions():
    source = "def f():\n    from dockyard.asgi import application\n    import_module('runtime.x')\n"
    names = [name for _, name in imported_names(ast.parse(source))]
    assert names == ["dockyard.asgi", "runtime.x"]


def test_every_package_of_the_tree_has_rules():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    unruled = packages - set(FORBIDDEN) - {"dockyard", "tests", "bench", "scripts"}
    assert unruled == set()
