#!/bin/sh
# Starts RabbitMQ, then sets each service user's password from the environment (the
# definitions carry none) and removes guest. The health check passes only after that.
set -eu
rm -f /run/chibo/ready
docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'kill -TERM "$server"; wait "$server"' TERM INT
until rabbitmqctl -q await_startup >/dev/null 2>&1; do
  kill -0 "$server" || exit 1
  sleep 2
done
for service in members meetings supervision reporting; do
  variable=CHIBO_$(echo "$service" | tr a-z A-Z)_AMQP_PASSWORD
  eval "password=\${$variable:?$variable is not set}"
  # Given on standard input, never on a command line.
  printf '%s' "$password" | rabbitmqctl -q change_password "chibo_$service"
done
rabbitmqctl -q delete_user guest >/dev/null 2>&1 || true
touch /run/chibo/ready
wait "$server"
