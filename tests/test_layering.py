"""The one-door rule, the part an import check cannot see: ui/, web/ and pages/ reach the core
only through the use cases on `Services`, never through `services.infra` (the repositories,
the worker, the database), and read storage's records, never its repositories.

The import half is ruff's banned-api rule, configured in ui/ruff.toml, web/ruff.toml and
pages/ruff.toml and run by scripts/test.sh.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import storage.records

ROOT = Path(__file__).resolve().parent.parent
OUTER_LAYERS = ("ui", "web", "pages")
SOURCES = [
    *sorted(path for layer in OUTER_LAYERS for path in (ROOT / layer).rglob("*.py")),
    ROOT / "app.py",
    ROOT / "server.py",
]
# The records and enums storage hands out, less what only the core may hold (a password hash,
# throttle counters).
RECORD_NAMES = {
    name
    for name, value in vars(storage.records).items()
    if isinstance(value, type) and value.__module__ == storage.records.__name__
} - {"Credentials", "AttemptCount"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_outer_module_reaches_behind_the_use_cases(path: Path) -> None:
    reached = [
        f"line {node.lineno}"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Attribute) and node.attr == "infra"
    ]
    assert reached == [], f"{path.name} uses services.infra at {', '.join(reached)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_outer_modules_take_only_records_from_storage(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "storage":
            names = {alias.name for alias in node.names}
            assert node.module in ("storage", "storage.records"), (path.name, node.module)
            assert names <= RECORD_NAMES, (path.name, names - RECORD_NAMES)
        if isinstance(node, ast.Import):
            assert not any(alias.name.startswith("storage") for alias in node.names), path.name


def test_the_check_sees_every_outer_module() -> None:
    assert len(SOURCES) > 20  # a moved folder must not leave the rule checking nothing
