#!/usr/bin/env bash
# Install AnyChat and start it on SQLite (data/anychat.db). Extra arguments go to streamlit run,
# e.g. scripts/start.sh --server.port 8080 --server.address 0.0.0.0
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/streamlit run server.py "$@"
