#!/usr/bin/env bash
# Distributed mode on one machine: each service its own `nameko run` process on
# RabbitMQ and PostgreSQL. Ports: members 8001, meetings 8002, supervision 8003,
# reporting 8004 (CHIBO_PORT_BASE=8000 by default).
#
# Each process connects as its own RabbitMQ user and PostgreSQL role, read from
# $CHIBO_SECRETS_DIR/<service>.env (default var/chibo/secrets), which `chibo provision`
# writes. When a service's file is missing this script runs `chibo provision` first
# (it needs rabbitmqctl and a PostgreSQL superuser: CHIBO_PROVISION_PG_URL); set
# CHIBO_NO_PROVISION=1 to stop instead. Other settings come from the CHIBO_* variables
# named in services/config/distributed.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
CONFIG=services/config/distributed.yaml
SECRETS=${CHIBO_SECRETS_DIR:-var/chibo/secrets}
base=${CHIBO_PORT_BASE:-8000}
services=(members:MembersService meetings:MeetingsService
          supervision:SupervisionService reporting:ReportingService)

missing=()
for spec in "${services[@]}"; do
  name=${spec%%:*}
  [[ -r "$SECRETS/$name.env" ]] || missing+=("$name")
done
if ((${#missing[@]})); then
  if [[ ${CHIBO_NO_PROVISION:-} == 1 ]]; then
    echo "run-distributed: không có thông tin đăng nhập (no credentials) for" \
         "${missing[*]} in $SECRETS: run \`chibo provision --secrets-dir $SECRETS\`" >&2
    exit 2
  fi
  echo "run-distributed: no credentials for ${missing[*]} in $SECRETS: chibo provision"
  args=()
  for name in "${missing[@]}"; do args+=(--service "$name"); done
  "$BIN/chibo" provision --secrets-dir "$SECRETS" "${args[@]}"
fi

# Run a command with the service's own credentials, and nothing of the others'. It
# execs: call it in a subshell, `(with_credentials …)`, or in the background.
with_credentials() {
  local name=$1; shift
  set -a
  # shellcheck disable=SC1090
  . "$SECRETS/$name.env"
  set +a
  exec "$@"
}

for spec in "${services[@]}"; do
  name=${spec%%:*}
  (with_credentials "$name" "$BIN/chibo" init-db --config "$CONFIG" --service "$name")
done

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
n=0
for spec in "${services[@]}"; do
  n=$((n + 1))
  name=${spec%%:*}
  # The supervisor starts a service again if it dies; a stop (SIGTERM) it passes on.
  CHIBO_WEB_ADDRESS=127.0.0.1:$((base + n)) with_credentials "$name" \
    "$BIN/python" -m chibo.supervisor --name "$name" -- \
    "$BIN/nameko" run --config "$CONFIG" "services.$name.entrypoints:${spec#*:}" &
  pids+=($!)
  echo "$name: http://127.0.0.1:$((base + n))  (pid $!)"
done
wait
