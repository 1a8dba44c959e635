#!/usr/bin/env bash
# Install everything the tests need, then lint and run the whole suite (core, pages, browser).
# Extra arguments go to pytest, e.g. scripts/test.sh -k storage
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest "$@"
