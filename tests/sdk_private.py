"""Finds uses of the Singer SDK's private members in a module (for the seam tests).

A private member is a `_name` (not dunder) defined on, or set as `self._name` by, an SDK class
the plugin extends; an import from a private or internal SDK module counts too."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

INTERNAL_MODULES = {
    "singer_sdk.sinks.core",
    "singer_sdk.singerlib.encoding.base",
    "singer_sdk.mapper",
}
INTERNAL_NAMES = {("singer_sdk.contrib.msgspec", "encoder")}  # a module global, undocumented


def private_names(classes: tuple[type, ...]) -> set[str]:
    """Private members of `classes` and their SDK bases, and the `self._x` they set."""
    names = set()
    for cls in {c for base in classes for c in base.__mro__ if c.__module__.startswith("singer")}:
        names |= {n for n in vars(cls) if n.startswith("_") and not n.startswith("__")}
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls)))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                names.add(node.attr)
    return names - {"_abc_impl"}


def sdk_uses(path: Path, private: set[str]) -> list[str]:
    """Private SDK names the module at `path` imports, reaches (`x._name`) or overrides."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
            module = node.module or ""
            if module in INTERNAL_MODULES or any(p.startswith("_") for p in module.split(".")):
                found.append(module)
            found += [
                a.name
                for a in node.names
                if a.name.startswith("_") or (module, a.name) in INTERNAL_NAMES
            ]
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append(node.attr)
        if isinstance(node, ast.FunctionDef) and node.name in private:
            found.append(f"def {node.name}")
    return found
