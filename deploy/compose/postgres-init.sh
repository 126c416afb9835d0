#!/bin/sh
# Run once by the postgres image on an empty data folder (docker-entrypoint-initdb.d):
# chibo's roles and databases (deploy/postgres/roles.sql), then each login's password
# from the environment, given to psql as variables (never on its command line).
set -eu
psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -f /chibo/postgres/roles.sql
for service in members meetings supervision reporting; do
  upper=$(echo "$service" | tr a-z A-Z)
  eval "service_password=\${CHIBO_${upper}_PG_PASSWORD:?CHIBO_${upper}_PG_PASSWORD is not set}"
  eval "owner_password=\${CHIBO_${upper}_OWNER_PG_PASSWORD:?CHIBO_${upper}_OWNER_PG_PASSWORD is not set}"
  psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v role="chibo_$service" -v password="$service_password" \
       -v owner="chibo_${service}_owner" -v owner_password="$owner_password" <<'SQL'
ALTER ROLE :"role" PASSWORD :'password';
ALTER ROLE :"owner" PASSWORD :'owner_password';
SQL
done
