#!/usr/bin/env bash
# Distributed mode on one machine: each service its own `nameko run` process on
# RabbitMQ and PostgreSQL. Settings come from the CHIBO_* environment variables
# named in services/config/distributed.yaml. Ports: members 8001, meetings 8002,
# supervision 8003, reporting 8004 (CHIBO_PORT_BASE=8000 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
CONFIG=services/config/distributed.yaml
base=${CHIBO_PORT_BASE:-8000}

"$BIN/chibo" init-db --config "$CONFIG"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
n=0
for spec in members:MembersService meetings:MeetingsService \
            supervision:SupervisionService reporting:ReportingService; do
  n=$((n + 1))
  name=${spec%%:*}
  CHIBO_WEB_ADDRESS=127.0.0.1:$((base + n)) \
    "$BIN/nameko" run --config "$CONFIG" "services.$name.entrypoints:${spec#*:}" &
  pids+=($!)
  echo "$name: http://127.0.0.1:$((base + n))  (pid $!)"
done
wait
