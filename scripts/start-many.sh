#!/usr/bin/env bash
# Install AnyChat and start N processes of it on one PostgreSQL database, on ports
# FIRST_PORT .. FIRST_PORT+N-1 (default 8501), each bound to ${ANYCHAT_BIND:-127.0.0.1}, for a
# reverse proxy with sticky sessions in front (docs/nginx-anychat.conf). Every process gets this
# shell's environment. PIDs go to data/run/anychat-PORT.pid, output to data/run/anychat-PORT.log;
# scripts/stop-many.sh stops them. Under a sub-path, set STREAMLIT_SERVER_BASE_URL_PATH.
#   DATABASE_URL=postgresql+psycopg://anychat:secret@db.internal/anychat scripts/start-many.sh 4
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-}"
first_port="${2:-8501}"
bind="${ANYCHAT_BIND:-127.0.0.1}"
timeout="${ANYCHAT_START_TIMEOUT:-120}"  # seconds for all of them to answer /_stcore/health
if ! [[ "$count" =~ ^[1-9][0-9]*$ && "$first_port" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/start-many.sh N [FIRST_PORT]" >&2
  exit 2
fi

scripts/install.sh

# The database the processes will use (environment, else .streamlit/secrets.toml): SQLite
# serves one process only; several need PostgreSQL to share replies and Stop between them.
backend=$(.venv/bin/python -c '
from sqlalchemy.engine import make_url
from chatcore.config import load_settings
print(make_url(load_settings().database_url).get_backend_name())')
if [ "$backend" != postgresql ]; then
  echo "start-many.sh: DATABASE_URL is $backend, not PostgreSQL. SQLite serves one process" >&2
  echo "only (scripts/start.sh); set DATABASE_URL=postgresql+psycopg://user:password@host/db." >&2
  exit 1
fi

(umask 077 && mkdir -p data/run)  # owner-only, like data/ itself
ports=()
for ((i = 0; i < count; i++)); do
  port=$((first_port + i))
  pid_file="data/run/anychat-$port.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "start-many.sh: PID $(cat "$pid_file") already serves port $port ($pid_file)." >&2
    exit 1
  fi
  ports+=("$port")
done
for port in "${ports[@]}"; do
  nohup .venv/bin/streamlit run server.py --server.port="$port" --server.address="$bind" \
    >"data/run/anychat-$port.log" 2>&1 </dev/null &
  echo $! >"data/run/anychat-$port.pid"
done

# Wait until each answers its health check; stop them all if one dies or the time runs out.
host="$bind"
[[ "$host" == 0.0.0.0 || "$host" == :: ]] && host=127.0.0.1
[[ "$host" == *:* ]] && host="[$host]"
base="${STREAMLIT_SERVER_BASE_URL_PATH:-}"
base="${base#/}"
base="${base%/}"
deadline=$((SECONDS + timeout))
for port in "${ports[@]}"; do
  until curl -fsS --max-time 2 -o /dev/null "http://$host:$port${base:+/$base}/_stcore/health" 2>/dev/null; do
    reason=""
    state=$(ps -o stat= -p "$(cat "data/run/anychat-$port.pid")") || state=Z  # gone
    [[ "$state" == Z* ]] && reason="it exited"
    [ -z "$reason" ] && [ "$SECONDS" -ge "$deadline" ] && reason="no answer within ${timeout}s"
    if [ -n "$reason" ]; then
      echo "start-many.sh: the process on port $port did not start ($reason); its log:" >&2
      tail -n 20 "data/run/anychat-$port.log" >&2
      scripts/stop-many.sh "${ports[@]}"
      exit 1
    fi
    sleep 0.5
  done
  # One request for a page builds the process's services now, not at a teammate's first visit:
  # it joins the database (migrating if needed), registers, and logs any setup code.
  curl -sS --max-time 60 -o /dev/null "http://$host:$port${base:+/$base}/" || true
done
echo "AnyChat is serving on $bind, ports: ${ports[*]} (logs and PIDs in data/run/)."
