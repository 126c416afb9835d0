#!/bin/sh
# The compose file's one-shot: each service's database to its newest schema as its owner
# role, then the service role's privileges (deploy/postgres/grants.psql).
set -eu
for service in members meetings supervision reporting; do
  upper=$(echo "$service" | tr a-z A-Z)
  eval "password=\${CHIBO_${upper}_OWNER_PG_PASSWORD:?CHIBO_${upper}_OWNER_PG_PASSWORD is not set}"
  url="postgresql://chibo_${service}_owner:${password}@${CHIBO_PG_ADDRESS:-postgres:5432}/chibo_${service}"
  env "CHIBO_${upper}_DATABASE_URL=$url" \
    chibo migrate --config services/config/distributed.yaml --service "$service"
  psql -X -q -v ON_ERROR_STOP=1 -v service="$service" -f deploy/postgres/grants.psql "$url"
done
