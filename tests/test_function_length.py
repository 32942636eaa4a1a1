"""No function in src/scaleml is over 60 lines (issue #35): long functions hide where things are.

A function that grows past the limit is split by responsibility, each part named by
what it does, not cut at line 60.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "scaleml"
MAX_LINES = 60


def _too_long(root: Path) -> list[str]:
    """``path:line name (N lines)`` for every function (nested ones and methods included) over the limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_the_check_sees_nested_functions(tmp_path):
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f"def outer():\n    def inner():\n{body}\n    return inner\n")
    assert [line.split(" ")[1] for line in _too_long(tmp_path)] == ["outer", "inner"]


def test_no_function_over_60_lines():
    too_long = _too_long(SRC)
    assert not too_long, f"functions over {MAX_LINES} lines (split them by responsibility):\n" + "\n".join(too_long)
