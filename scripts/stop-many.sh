#!/usr/bin/env bash
# Stop the AnyChat processes scripts/start-many.sh started, by their PID files in data/run/:
# all of them, or only those of the ports given (scripts/stop-many.sh 8501 8502). SIGTERM first,
# SIGKILL for any still running after ${ANYCHAT_STOP_TIMEOUT:-20} seconds; the PID files go.
set -euo pipefail
cd "$(dirname "$0")/.."

timeout="${ANYCHAT_STOP_TIMEOUT:-20}"
files=()
if [ $# -gt 0 ]; then
  for port in "$@"; do
    [ -f "data/run/anychat-$port.pid" ] && files+=("data/run/anychat-$port.pid")
  done
else
  shopt -s nullglob
  files=(data/run/anychat-*.pid)
fi

# Only a live process that is still AnyChat's streamlit: a PID left by a crash may be reused.
ours() { ps -p "$1" -o args= 2>/dev/null | grep -q 'streamlit run server.py'; }

pids=()
for file in "${files[@]}"; do
  pid=$(cat "$file")
  if ours "$pid"; then
    kill -TERM "$pid"
    pids+=("$pid")
  fi
done
deadline=$((SECONDS + timeout))
for pid in "${pids[@]}"; do
  while ours "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
  done
  if ours "$pid"; then
    echo "stop-many.sh: PID $pid ignored SIGTERM for ${timeout}s; killing it." >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
done
[ ${#files[@]} -gt 0 ] && rm -f "${files[@]}"
echo "Stopped ${#pids[@]} AnyChat process(es)."
