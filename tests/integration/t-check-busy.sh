#!/usr/bin/env bash
# tendctl check when PostgreSQL is out of connections, and when a server
# accepts but never answers: the right message, and tendd stays responsive
# (status and another app's check answer at once) while a check waits.
. "$(dirname "$0")/../lib.sh"
PG_OPTS="-c max_connections=5 -c superuser_reserved_connections=1" pg_start ||
	{ not_ok "PostgreSQL starts"; done_testing; }
black_hole || { not_ok "black hole listens"; done_testing; }
PG=postgres://app:apppass@127.0.0.1:$PGPORT
tend_conf <<EOF2
[app:full]
dir = /
command = true
autostart = no
env = DATABASE_URL=$PG/shop

[app:hole]
dir = /
command = true
autostart = no
env = DATABASE_URL=postgres://app:apppass@127.0.0.1:$HOLE/shop
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
# Take the four slots open to non-superusers, one at a time, each seen
# connected (counted over the superuser's reserved slot) before the next.
held() { [ "$($PSQL -At -c "select count(*) from pg_stat_activity where usename = 'app'")" = "$1" ]; }
# The superuser's counting query may take a normal slot for a moment: a
# sleeper refused then tries again (bounded).
for i in 1 2 3 4; do
	(for try in $(seq 50); do
		PGPASSWORD=apppass psql -h 127.0.0.1 -p "$PGPORT" -U app -d shop \
		    -X -q -c 'select pg_sleep(60)' >/dev/null 2>&1 && break
		sleep 0.1
	done) &
	on_exit "kill $! 2>/dev/null; pkill -f 'select pg_sleep(60)' 2>/dev/null"
	wait_for "sleeper $i connected" 10 held "$i" || break
done
check "all four slots are taken" held 4
a=$(date +%s%N); out=$(tctl check full 2>&1); rc=$?; b=$(date +%s%N)
ms=$(( (b - a) / 1000000 )); printf '# %s\n' "$out"
check "out of connections: exit 1 in under 1 s ($ms ms)" test "$rc" = 1 -a "$ms" -lt 1000
check "says too many connections" grep -q "too many connections: PostgreSQL on 127.0.0.1:$PGPORT has reached max_connections" <<<"$out"
tctl check hole >"$T/hole.out" 2>&1 &
hole=$!
sleep 0.3
times=()
for i in 1 2 3 4 5; do
	a=$(date +%s%N); tctl status >/dev/null; b=$(date +%s%N)
	times+=($(( (b - a) / 1000000 )))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
check "status answers in < 50 ms while a check waits on a black hole (median $med ms)" test "$med" -lt 50
a=$(date +%s%N); tctl check full >/dev/null 2>&1; b=$(date +%s%N)
check "another app's check answers meanwhile ($(( (b - a) / 1000000 )) ms)" test $(( (b - a) / 1000000 )) -lt 1000
wait "$hole"; rc=$?
check "the black hole check fails (exit 1)" test "$rc" = 1
check "saying no answer within the limit" grep -q "PostgreSQL unreachable at 127.0.0.1:$HOLE: no answer within 3000 ms" "$T/hole.out"
done_testing
