#!/usr/bin/env bash
# Install everything the tests need, then lint and run the whole suite (core, pages, browser).
# Extra arguments go to pytest, e.g. scripts/test.sh -k storage
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh dev

# Static checks: lint and format.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The one-door rule's import half is ruff's banned-api in ui/, web/ and pages/ (ruff.toml there);
# its attribute half is tests/test_layering.py. Types: mypy over chatcore, storage, web and ui.
.venv/bin/mypy

# The suite. tests/ is a package: pytest puts its parent (this folder) first on sys.path, so
# tests import chatcore, storage, ui, web and their helpers (tests.support) by full name.
exec .venv/bin/pytest "$@"
