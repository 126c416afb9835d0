-- chibo's PostgreSQL roles and databases, least privilege.
--
--   psql -X -v ON_ERROR_STOP=1 -h db.internal -U postgres -f deploy/postgres/roles.sql
--   psql ... -v prefix=chibo_test_ -f deploy/postgres/roles.sql      (other names)
--
-- Run as a superuser. For each service S of members, meetings, supervision, reporting:
--
--   <prefix>S_owner   owns the database <prefix>S and everything in it; runs `chibo migrate`
--                     (and grants.psql after it). Not a superuser; creates no roles or
--                     databases.
--   <prefix>S         the role the service runs as: CONNECT on its own database and no
--                     other chibo database (CONNECT is revoked from PUBLIC on each), no DDL,
--                     and on its tables only what grants.psql gives it. Its log is
--                     append-only: INSERT and SELECT on `events`, no UPDATE or DELETE.
--
-- No passwords are set here (nothing secret lives in this file): set each login's with
-- `\password <role>` in psql, or `ALTER ROLE ... PASSWORD`, and put it in the service's
-- environment file. Safe to run again: it creates what is missing, puts the attributes,
-- owners and privileges back, and hands anything an earlier layout gave the service role
-- (`chibo provision` makes the service role the database's owner) to the owner role.
-- Run it before the first `chibo migrate` and again whenever you like; after each
-- migration the owner runs grants.psql (the migration units and jobs do).

\set ON_ERROR_STOP on
\if :{?prefix}
\else
  \set prefix chibo_
\endif

-- The login roles, by name: <prefix>S_owner and <prefix>S.
SELECT format('CREATE ROLE %I', :'prefix' || s || suffix)
  FROM (VALUES ('members'), ('meetings'), ('supervision'), ('reporting')) AS services(s),
       (VALUES (''), ('_owner')) AS kinds(suffix)
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'prefix' || s || suffix)
\gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
              'NOBYPASSRLS NOINHERIT', :'prefix' || s || suffix)
  FROM (VALUES ('members'), ('meetings'), ('supervision'), ('reporting')) AS services(s),
       (VALUES (''), ('_owner')) AS kinds(suffix)
\gexec

-- Each database, owned by its owner role, closed to PUBLIC, open to its service role.
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0',
              :'prefix' || s, :'prefix' || s || '_owner')
  FROM (VALUES ('members'), ('meetings'), ('supervision'), ('reporting')) AS services(s)
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'prefix' || s)
\gexec
SELECT format('ALTER DATABASE %1$I OWNER TO %2$I', :'prefix' || s, :'prefix' || s || '_owner'),
       format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'prefix' || s),
       format('REVOKE ALL ON DATABASE %I FROM %I', :'prefix' || s, :'prefix' || s),
       format('GRANT CONNECT ON DATABASE %I TO %I', :'prefix' || s, :'prefix' || s)
  FROM (VALUES ('members'), ('meetings'), ('supervision'), ('reporting')) AS services(s)
\gexec

-- Inside each database: objects handed to the owner, then the service role's privileges.
\set service members
\ir service.psql
\set service meetings
\ir service.psql
\set service supervision
\ir service.psql
\set service reporting
\ir service.psql
