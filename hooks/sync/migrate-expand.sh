#!/bin/sh
# migrate-expand.sh: a sample PreSync hook, an expand-style migration.
#
# Schema changes roll forward only (expand, migrate, contract): this step
# only adds what the new version needs and the old one ignores, so it can
# run before the new version is out, again on every sync, and stay in
# place if the deploy is rolled back. Every statement is idempotent.
#
#   hooks:
#     - name: migrate
#       phase: PreSync
#       command: [hooks/sync/migrate-expand.sh]
#       timeout: 2m
#
# It reads the database from DATABASE_URL (set it in the agent's
# environment file; the agent passes PATH, HOME and its GITOPS_* variables
# to hooks, nothing else, so export it from a file the hook reads, as
# below). GITOPS_APP, GITOPS_VERSION and GITOPS_PREVIOUS_VERSION say what
# is being deployed.
set -eu
: "${DATABASE_URL:=$(cat "${GITOPS_DATABASE_URL_FILE:-/etc/gitops-agent/database-url}")}"
echo "migrate: $GITOPS_APP ${GITOPS_PREVIOUS_VERSION:-none} -> ${GITOPS_VERSION:-?}"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q <<'SQL'
BEGIN;
-- expand: new column, nullable, with a default the old code never sees
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text;
ALTER TABLE orders ALTER COLUMN currency SET DEFAULT 'EUR';
CREATE INDEX IF NOT EXISTS orders_currency_idx ON orders (currency);
-- migrate: backfill in place, a no-op the second time
UPDATE orders SET currency = 'EUR' WHERE currency IS NULL;
COMMIT;
SQL
