#!/usr/bin/env bash
# The migration lock: two tendd (two configurations, as on two hosts)
# start apps that migrate one database at the same moment.  Their
# migrations never overlap (each records its start and end in a table),
# the one that waits says who holds the lock, and both apps end live.
. "$(dirname "$0")/../lib.sh"
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
PG=postgres://app:apppass@127.0.0.1:$PGPORT/shop
HOST=$(hostname)
conf() {	# DIR NAME PORT
	mkdir -p "$1"
	cat > "$1/tend.conf" <<EOF
[tend]
socket = $1/tend.sock
state_dir = $1/state
log_dir = $1/log

[app:$2]
dir = $T
command = $NODE $SERVER
port = $3
health = /health
env = DATABASE_URL=$PG
env = MIGRATE_SLEEP=2
migrate = sh $SRCDIR/tests/app/migrate.sh
autostart = no
EOF
}
conf "$T/a" web "$(free_port)"
conf "$T/b" worker "$(free_port)"
"$TENDD" -f -c "$T/a/tend.conf" >>"$T/a/tendd.log" 2>&1 & A=$!
"$TENDD" -f -c "$T/b/tend.conf" >>"$T/b/tendd.log" 2>&1 & B=$!
on_exit "kill $A $B"
ca() { "$TENDCTL" -c "$T/a/tend.conf" "$@"; }
cb() { "$TENDCTL" -c "$T/b/tend.conf" "$@"; }
wait_for "both tendd" 10 bash -c "'$TENDCTL' -c '$T/a/tend.conf' status && '$TENDCTL' -c '$T/b/tend.conf' status" ||
    { not_ok "both tendd answer"; done_testing; }

ca start web >"$T/a.out" 2>&1 & SA=$!
cb start worker >"$T/b.out" 2>&1 & SB=$!
# One of them waits: its status names the other's tendd and this host.
step() { "$TENDCTL" -c "$T/$1/tend.conf" status --json | jq -r '.apps[0].step // empty'; }
waiting() {
	local s
	for x in a b; do
		s=$(step $x)
		case $s in "waiting for migration lock held by"*) echo "$x $s"; return 0;; esac
	done
	return 1
}
wait_for "a waiter" 15 waiting
w=$(waiting); echo "# $w"
case $w in a*) holder=$B;; b*) holder=$A;; *) holder=none;; esac
check "the waiting one says which tendd holds the lock (pid $holder on $HOST)" \
    grep -q "waiting for migration lock held by pid $holder on host $HOST" <<<"$w"
check "it is in state migrating meanwhile" bash -c "'$TENDCTL' -c '$T/${w%% *}/tend.conf' status --json | jq -e '.apps[0].state == \"migrating\"'"
wait "$SA"; ra=$?
wait "$SB"; rb=$?
check "tendctl start of the first app exits 0" test "$ra" = 0
check "tendctl start of the second app exits 0" test "$rb" = 0
check "both apps are live" bash -c "'$TENDCTL' -c '$T/a/tend.conf' status --json | jq -e '.apps[0].state == \"live\"' && '$TENDCTL' -c '$T/b/tend.conf' status --json | jq -e '.apps[0].state == \"live\"'"
check "both migrations ran" test "$($PSQL -d shop -At -c 'SELECT count(*) FROM migrations')" = 2
$PSQL -d shop -At -c "SELECT tag, started, ended FROM migrations ORDER BY started" | sed 's/^/# /'
check "they did not overlap" test "$($PSQL -d shop -At -c \
    'SELECT count(*) FROM migrations m1 JOIN migrations m2 ON m1.tag < m2.tag
     WHERE m1.started < m2.ended AND m2.started < m1.ended')" = 0

# The lock dies with its holder: a tendd killed mid-migration frees it.
"$TENDCTL" -c "$T/a/tend.conf" stop web >/dev/null
sed -i 's/MIGRATE_SLEEP=2/MIGRATE_SLEEP=30/' "$T/a/tend.conf"
ca reread >/dev/null
ca start --no-wait web >/dev/null
wait_for "a migrating for long" 10 bash -c "'$TENDCTL' -c '$T/a/tend.conf' status --json | jq -e '.apps[0].step | test(\"running\")'"
kill -9 "$A"
# Its migration and the server it would have started die with the test.
pkill -KILL -f "$SRCDIR/tests/app/migrate.sh" 2>/dev/null
sed -i 's/MIGRATE_SLEEP=2/MIGRATE_SLEEP=0/' "$T/b/tend.conf"
cb reread >/dev/null
wait_for "worker live after the holder died" 20 bash -c "'$TENDCTL' -c '$T/b/tend.conf' status --json | jq -e '.apps[0].state == \"live\" and .apps[0].migration.ok == true and (.apps[0].migration.ms < 5000)'"
check "after kill -9 of the holder's tendd the other migrates at once" bash -c "'$TENDCTL' -c '$T/b/tend.conf' status --json | jq -e '.apps[0].state == \"live\"'"
done_testing
