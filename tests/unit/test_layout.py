"""The code's shape, measured (issue 9): short modules, short functions, a thin create_app.

Models: encode/starlette (noun modules, a median function of about 5 lines) and
full-stack-fastapi-template (one APIRouter per resource, a small create_app).
Migrations are generated code and are left out.
"""

from __future__ import annotations

import ast
import statistics
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_MEDIAN_FUNCTION_LINES = 6
MAX_CREATE_APP_LINES = 100


def _modules() -> Iterator[Path]:
    for top in ("services", "schemas"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _functions(path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            yield node.name, node.end_lineno - node.lineno + 1


def function_lengths() -> dict[str, int]:
    return {
        f"{path.relative_to(ROOT)}:{name}:{index}": length
        for path in _modules()
        for index, (name, length) in enumerate(_functions(path))
    }


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {where: n for where, n in function_lengths().items() if n > MAX_FUNCTION_LINES}
    assert long == {}


def test_median_function_is_short() -> None:
    assert statistics.median(function_lengths().values()) <= MAX_MEDIAN_FUNCTION_LINES


def test_create_app_is_wiring_only() -> None:
    lengths = dict(_functions(ROOT / "services" / "api" / "app.py"))
    assert lengths["create_app"] <= MAX_CREATE_APP_LINES
