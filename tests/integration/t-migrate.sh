#!/usr/bin/env bash
# Migrations: `migrate` runs before the first start of a release, with
# its output marked in the app log, not again on a crash restart or an
# operator restart; a failing migration leaves the app failed with the
# exit and the last lines in status; backup_before_migrate dumps first
# (pg_restore reads it), keeps backup_keep, and a failed dump stops the
# migration.
. "$(dirname "$0")/../lib.sh"
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
PG=postgres://app:apppass@127.0.0.1:$PGPORT/shop
P1=$(free_port)
MIG="sh $SRCDIR/tests/app/migrate.sh"
rows() { $PSQL -d shop -At -c "SELECT count(*) FROM migrations WHERE tag = '$1'" 2>/dev/null; }
tend_conf <<EOF
[app:shop]
dir = $T
command = $NODE $SERVER
port = $P1
health = /health
env = DATABASE_URL=$PG
env = MIGRATE_SLEEP=1
migrate = $MIG
backup_before_migrate = $T/backups
backup_keep = 2
restart_delay = 0
min_uptime = 0

[app:broken]
dir = $T
command = $NODE $SERVER
env = DATABASE_URL=$PG
env = MIGRATE_FAIL=1
migrate = $MIG
backup_before_migrate = $T/backups
autostart = no

[app:nobackup]
dir = $T
command = $NODE $SERVER
env = DATABASE_URL=$PG
migrate = $MIG
backup_before_migrate = /proc/tend-cannot-write-here
autostart = no
EOF
tendd_start || { not_ok "tendd starts"; done_testing; }

wait_for "migrating" 10 state_is shop migrating
check "while the migration runs the app is 'migrating'" state_is shop migrating
check "and status says what it runs" wait_for "step" 10 bash -c "$TENDCTL -c $T/tend.conf status --json | jq -e '.apps[] | select(.name == \"shop\") | .step | test(\"running .*migrate.sh\")'"
check "the server is not started before the migration ends" test "$(json shop pid)" = null
wait_for "shop live" 20 state_is shop live
check "then the app is live" state_is shop live
check "the migration ran once" test "$(rows shop)" = 1
check "its output is in the app log, marked 'migrate'" grep -q ' migrate migrated shop$' "$T/log/shop.log"
check "the migration ended before the server started" bash -c "
	m=\$(grep -n ' migrate migrated shop' '$T/log/shop.log' | head -1 | cut -d: -f1)
	s=\$(grep -n ' out server start' '$T/log/shop.log' | head -1 | cut -d: -f1)
	[ -n \"\$m\" ] && [ -n \"\$s\" ] && [ \"\$m\" -lt \"\$s\" ]"
check "status reports the migration" test "$(json shop migration.ok)" = true
dump=$(json shop backup.file)
check "a backup was taken first ($dump)" test -s "$dump"
check "pg_restore --list reads it" bash -c "pg_restore --list '$dump' | grep -q '^;     dbname: shop'"
check "only root can read it" test "$(stat -c %a "$dump")" = 600
check "status gives the pg_restore command" bash -c "[ \"\$(jq -r '.apps[] | select(.name == \"shop\") | .backup.restore' <<<\"\$($TENDCTL -c $T/tend.conf status --json)\")\" = 'pg_restore --clean --if-exists --no-owner -h 127.0.0.1 -p $PGPORT -U app -d shop $dump' ]"

# A crash restart and an operator restart do not migrate again.
curl -s "http://127.0.0.1:$P1/crash" >/dev/null
wait_for "restart" 20 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq -r '.apps[] | select(.name == \"shop\") | \"\(.state) \(.restarts)\"')\" = 'live 1' ]"
check "a crash restart does not migrate again" test "$(rows shop)" = 1
tctl restart shop >/dev/null
check "nor does tendctl restart (same release)" test "$(rows shop)" = 1

# A failing migration: never started, failed, the reason in status.
out=$(tctl start broken 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "start of an app whose migration fails exits 1" test "$rc" = 1
check "the app is failed" state_is broken failed
reason=$(json broken reason)
check "the reason names the migration and its exit" grep -q 'migration failed: `sh .*migrate.sh` exited with code 3' <<<"$reason"
check "and its last lines" grep -q 'migration 20261126_add_product failed' <<<"$reason"
check "and how to restore the backup taken before it" grep -q "pg_restore --clean --if-exists --no-owner -h 127.0.0.1 -p $PGPORT -U app -d shop $T/backups/broken-" <<<"$reason"
check "the password is nowhere in status" bash -c "! $TENDCTL -c $T/tend.conf status --json | grep -q apppass"
check "the server never started" bash -c "! grep -q 'server start' '$T/log/broken.log'"
check "status --json has the migration outcome" test "$(json broken migration.ok)" = false

# Two more dumps of shop (new settings = a new start that migrates):
# backup_keep = 2 keeps the newest two.
for n in 2 3; do
	sed -i "s/^env = MIGRATE_SLEEP=.*/env = MIGRATE_SLEEP=0.$n/" "$T/tend.conf"
	tctl reread >/dev/null
	wait_for "migration $n" 30 bash -c "[ \"\$($PSQL -d shop -At -c \"SELECT count(*) FROM migrations WHERE tag = 'shop'\")\" = $n ]"
	wait_for "shop live again" 20 state_is shop live
done
check "each new start of changed settings migrated" test "$(rows shop)" = 3
check "backup_keep = 2 keeps two dumps of shop" test "$(ls "$T"/backups/shop-*.dump | wc -l)" = 2
check "and never another app's" test "$(ls "$T"/backups/broken-*.dump | wc -l)" = 1

# A backup that cannot be written stops the migration.
out=$(tctl start nobackup 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a failed backup fails the start (exit 1)" test "$rc" = 1
check "and says the migration did not run" grep -q 'backup failed, so the migration did not run' <<<"$(json nobackup reason)"
check "it did not" test "$(rows nobackup)" = 0
done_testing
