"""The import direction of the three packages: rules <- engine <- console (design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Top-level-qualified names of every module a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("rules", ("engine", "console", "textual", "typer", "asyncio", "socket")),
        ("engine", ("console", "textual", "typer")),
        ("engine/core", ("asyncio", "socket", "selectors", "threading", "console", "textual")),
    ],
)
def test_imports_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    assert violations(package, forbidden) == []


def test_engine_core_imports_only_itself_rules_and_the_standard_library() -> None:
    allowed_prefixes = ("engine.core", "rules", "__future__")
    stdlib = {
        "abc", "bisect", "collections", "dataclasses", "enum", "functools", "heapq",
        "ipaddress", "itertools", "math", "typing", "uuid", "time", "types", "weakref",
        "operator", "contextlib", "sys",
    }  # fmt: skip
    bad = []
    for path in sorted((ROOT / "engine" / "core").rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if not name.startswith(allowed_prefixes) and top not in stdlib:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import socket\nfrom engine.core import x\n", encoding="utf-8")
    assert imported_modules(sample) == {"socket", "engine.core"}
