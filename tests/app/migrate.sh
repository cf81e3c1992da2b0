#!/bin/sh
# tests/app/migrate.sh: the migration the integration tests run.  Records
# when it started and ended in the table migrations of DATABASE_URL's
# database, so a test can see whether two migrations overlapped.
#   MIGRATE_SLEEP   seconds to take (default 0)
#   MIGRATE_FAIL=1  print a few lines and exit 3 instead
#   MIGRATE_TAG     written with the row (default $TEND_APP)
set -eu
tag=${MIGRATE_TAG:-${TEND_APP:-?}}
if [ "${MIGRATE_FAIL:-}" = 1 ]; then
	echo "migrating $tag"
	echo "error: relation \"product\" already exists" >&2
	echo "migration 20261126_add_product failed" >&2
	exit 3
fi
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c \
    "CREATE TABLE IF NOT EXISTS migrations (tag text, pid int,
     started timestamptz, ended timestamptz)"
start=$(psql "$DATABASE_URL" -X -At -c "SELECT clock_timestamp()")
echo "migrating $tag"
sleep "${MIGRATE_SLEEP:-0}"
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c \
    "INSERT INTO migrations VALUES ('$tag', $$, '$start', clock_timestamp())"
echo "migrated $tag"
