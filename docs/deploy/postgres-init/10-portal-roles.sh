#!/bin/sh
# First start of the postgres container (docker-compose.yml mounts this into /docker-entrypoint-initdb.d,
# run once as the cluster's superuser `postgres`): the portal's two roles, neither a superuser.
#   portal_owner  owns the database and its schema; runs `manage.py migrate` and `db_grant_app_role`
#   portal        the app role: web, workers, beat, sequencer. Owns nothing; on the ledger it may only
#                 SELECT and INSERT (granted by `manage.py db_grant_app_role portal` after each migrate)
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_password="$PORTAL_OWNER_PASSWORD" -v app_password="$PORTAL_APP_PASSWORD" <<'SQL'
CREATE ROLE portal_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE portal LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
ALTER DATABASE portal OWNER TO portal_owner;
ALTER SCHEMA public OWNER TO portal_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
