"""The code stays walkable: no function too branchy to follow, no class that knows everything."""

from __future__ import annotations

import ast
from pathlib import Path

from radon.complexity import cc_visit  # type: ignore[import-untyped]

PRODUCT = Path(__file__).resolve().parents[2] / "orchestrator"
# radon's grade D starts here: a function this branchy is split into named steps.
MAX_COMPLEXITY = 20
MAX_CLASS_LINES = 250
# The test bed may hold bigger fakes; the product's classes stay small.
TEST_BED = ("sandbox", "testing")


def _sources() -> list[Path]:
    return sorted(PRODUCT.rglob("*.py"))


def test_no_function_is_as_complex_as_radon_grade_d() -> None:
    too_complex = [
        f"{path.relative_to(PRODUCT)}:{block.lineno} {block.fullname} ({block.complexity})"
        for path in _sources()
        for block in cc_visit(path.read_text(encoding="utf-8"))
        if block.complexity > MAX_COMPLEXITY
    ]
    assert too_complex == []


def test_no_class_of_the_product_is_longer_than_250_lines() -> None:
    too_long = []
    for path in _sources():
        if path.relative_to(PRODUCT).parts[0] in TEST_BED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    too_long.append(
                        f"{path.relative_to(PRODUCT)}:{node.lineno} {node.name} ({lines})"
                    )
    assert too_long == []
