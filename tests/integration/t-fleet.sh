#!/usr/bin/env bash
# [fleet]: hosts on one PostgreSQL.  Two tendds (alpha, beta) share a
# real database: tend's schema is made once, each host's heartbeat
# shows in status --fleet from either host, a killed host goes LOST
# after its lease, an unreachable database leaves the apps serving and
# says where, tend-fleet runs unprivileged, is restarted when killed and
# never shows the password.  Then the deploy lease itself, through
# tend-fleet's own requests (one of them under valgrind, one through
# PgBouncer in transaction mode): a second taker is refused with who
# holds it and since when; a holder killed with SIGKILL is replaced
# once its lease ran out, and its generation writes nothing.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/fleet-lib.sh"
command -v jq >/dev/null || { not_ok "jq is installed"; done_testing; }
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
fleet_db || { not_ok "the fleet database is made"; done_testing; }

PA=$(free_port)
alpha_conf() {	# alpha_conf HOST|none
	{ [ "$1" = none ] || fleet_section "$1"; cat <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $PA
health = /health
EOF2
	} | tend_conf
}
alpha_conf alpha
check "tendd -t accepts [fleet]" "$TENDD" -t -c "$T/tend.conf"
tendd_start || { not_ok "tendd starts"; done_testing; }
PB=$(free_port)
host_start beta "$PB" || { not_ok "the second host starts"; done_testing; }

two_live() {
	[ "$(fleet_json '[.hosts[] | select(.apps.web.state == "live" and .lost == false)] | length')" = 2 ]
}
check "status --fleet shows both hosts with web live" wait_for "two hosts" 20 two_live
check "schema made once: tend.schema_version holds versions 1 to 4, once each" \
    test "$($FQ -c "SELECT string_agg(version::text, '/' ORDER BY version) FROM tend.schema_version")" = 1/2/3/4
check "beta sees the same fleet" test "$(hctl beta status --fleet --json | jq -r '[.hosts[].host] | join(",")')" = alpha,beta
age=$(fleet_json '.hosts[] | select(.host == "alpha") | .age_ms')
check "a heartbeat is younger than the lease (age ${age} ms, database clock)" test "$age" -lt 3000
out=$(tctl status --fleet)
check "the table names both hosts and web's state" \
    bash -c 'grep -q "^alpha .* web  *live" <<<"$1" && grep -q "^beta .* web  *live" <<<"$1"' _ "$out"
rel_ok() { [ "$(fleet_json '.hosts[] | select(.host == "alpha") | .apps.web | has("release")')" = true ]; }
check "a host's apps carry their release" rel_ok

HA=$(helper_pid "$TENDD_PID")
check "tend-fleet runs as nobody, not root" test "$(ps -o user= -p "$HA" | tr -d ' ')" = nobody
secret_free() {
	local p
	! grep -qF "$FLEET_PW" "$T/tendd.log" "$T/beta/tendd.log" || return 1
	! tctl status --fleet --json | grep -qF "$FLEET_PW" || return 1
	for p in "$HA" "$(helper_pid "$(cat "$T/beta/pid")")"; do
		! tr '\0' '\n' < "/proc/$p/environ" | grep -qF "$FLEET_PW" || return 1
		! tr '\0' '\n' < "/proc/$p/cmdline" | grep -qF "$FLEET_PW" || return 1
	done
}
check "the password is in no log, status, environment or command line" secret_free
check "status --fleet with an app is a usage error (2)" \
    bash -c '"$1" -c "$2" status web --fleet >/dev/null 2>&1; test $? = 2' _ "$TENDCTL" "$T/tend.conf"

# A helper killed is started again; the fleet view comes back.
kill -KILL "$HA"
new_helper() { local p; p=$(helper_pid "$TENDD_PID") && [ -n "$p" ] && [ "$p" != "$HA" ]; }
check "a killed tend-fleet is started again" wait_for "new helper" 10 new_helper
check "status --fleet answers again" wait_for "fleet status" 10 two_live

# A host whose tendd dies goes LOST once its heartbeat is older than the
# lease (tend-fleet dies with its tendd: PR_SET_PDEATHSIG).
host_kill beta
t0=$(now_ms)
beta_lost() { [ "$(fleet_json '.hosts[] | select(.host == "beta") | .lost')" = true ]; }
check "beta, killed, is marked lost" wait_for "beta lost" 15 beta_lost
dt=$(( $(now_ms) - t0 ))
check "not before its lease ran out (${dt} ms >= 2000)" test "$dt" -ge 2000
check "the table says LOST" bash -c '"$1" -c "$2" status --fleet | grep -q "^beta  *LOST"' _ "$TENDCTL" "$T/tend.conf"
check "alpha is not lost" test "$(fleet_json '.hosts[] | select(.host == "alpha") | .lost')" = false

# The database goes away: apps keep serving, status is still fast,
# status --fleet says where it could not reach, then it comes back.
v=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
PGBIN=/usr/lib/postgresql/$v/bin
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg" -m fast -w stop >/dev/null
down_said() {
	out=$(tctl status --fleet 2>&1)
	[ $? = 1 ] && grep -q "fleet database unreachable at 127.0.0.1:$PGPORT" <<<"$out"
}
check "status --fleet fails naming the database it cannot reach" wait_for "down" 15 down_said
check "without secrets" bash -c '! "$1" -c "$2" status --fleet 2>&1 | grep -qF "$3"' _ "$TENDCTL" "$T/tend.conf" "$FLEET_PW"
status_fast "plain status stays fast with the database down"
check "web still serves" curl -fsS --max-time 2 "127.0.0.1:$PA/health"
check "tendd's log says the host keeps serving" grep -q "keeps serving what it runs" "$T/tendd.log"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg" -l "$T/pg/server.log" -w \
    -o "-p $PGPORT -k $T/pg -c listen_addresses=127.0.0.1" start >/dev/null
alpha_back() { [ "$(fleet_json '.hosts[] | select(.host == "alpha") | .lost')" = false ]; }
check "the fleet view comes back with the database" wait_for "reconnect" 20 alpha_back

# A reread applies [fleet]: a new name, then none, then back.
HA=$(helper_pid "$TENDD_PID")
alpha_conf alpha2
check "reread with a new host name" tctl reread
renamed() { [ "$(fleet_json '.hosts[] | select(.host == "alpha2") | .apps.web.state')" = live ] && [ "$(fleet_json .host)" = alpha2 ]; }
check "the host beats under its new name, from a new tend-fleet" wait_for "alpha2" 15 renamed
check "the old tend-fleet is gone" bash -c '! kill -0 "$1" 2>/dev/null' _ "$HA"
alpha_conf none
check "reread without [fleet]" tctl reread
no_helper() { [ -z "$(helper_pid "$TENDD_PID")" ]; }
check "tend-fleet stops with the section" wait_for "no helper" 10 no_helper
out=$(tctl status --fleet 2>&1); rc=$?
check "status --fleet: exit 1, this host is in no fleet" bash -c '[ "$1" = 1 ] && grep -q "in no fleet" <<<"$2"' _ "$rc" "$out"
check "web kept running through it all" state_is web live
alpha_conf alpha
check "reread with [fleet] again" tctl reread
check "back in the fleet" wait_for "alpha back" 15 alpha_back

# SIGUSR2 (handover): the old tend-fleet is not handed over and not left
# behind; the new tendd starts its own and beats again.
HA=$(helper_pid "$TENDD_PID")
WP=$(tctl status --json | jq -r '.apps[] | select(.name == "web") | .pid')
kill -USR2 "$TENDD_PID"
check "the new tendd takes web over" \
    wait_for "handover line" 10 grep -q "handover from commit .*: 1 app taken over" "$T/tendd.log"
check "web keeps its pid ($WP)" test "$(tctl status --json | jq -r '.apps[] | select(.name == "web") | .pid')" = "$WP"
check "the old tend-fleet is gone, not orphaned" wait_for "old helper gone" 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$HA"
check "the log says why it stopped" grep -q "handover: the old tend-fleet (pid $HA) stops" "$T/tendd.log"
check "the new tendd runs a tend-fleet of its own" wait_for "new helper" 10 new_helper
beat_after() { [ "$(fleet_json '.hosts[] | select(.host == "alpha") | .lost')" = false ] && [ "$(fleet_json '.connection.state')" = up ]; }
check "and the host beats again" wait_for "beats after handover" 15 beat_after

# --- the deploy lease, through tend-fleet's requests -------------------
vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file="$T/vg.log")
# An ASan build cannot run under valgrind: its own checks stand in.
ldd "$TEND_FLEET" | grep -q libasan && vg=()
helper_open HX x || not_ok "tend-fleet x connects"
helper_open HY y "${vg[@]}" || not_ok "tend-fleet y connects"
ask HX '{"id":1,"op":"acquire","app":"web","kind":"deploy","ref":"main"}'
gx=$(jq -r .generation <<<"$REPLY")
check "x takes the lease (generation $gx)" test "$(jq -r .ok <<<"$REPLY")" = 1
ask HY '{"id":2,"op":"acquire","app":"web","kind":"deploy","ref":"v2"}'
check "y is refused, told who holds it and since when" \
    bash -c 'jq -e ".ok == 0 and .holder == \"x\" and (.since | test(\"^20\"))" <<<"$1" >/dev/null &&
        jq -r .detail <<<"$1" | grep -q "held by x since"' _ "$REPLY"
ask HX "{\"id\":3,\"op\":\"step\",\"generation\":$gx,\"host\":\"x\",\"step\":\"switched\"}"
check "the holder's write with its generation lands" test "$(jq -r .ok <<<"$REPLY")" = 1
shown() { tctl status --fleet --json | jq -e '.deploy.holder == "x" and .deploy.held and (.deploy.steps[0].step == "switched")'; }
check "status --fleet shows the deploy running, its holder and steps" shown
check "the table says who runs it" bash -c '"$1" -c "$2" status --fleet | grep -q "^running: fleet deploy of web (ref main), generation $3, by x"' _ "$TENDCTL" "$T/tend.conf" "$gx"
ask HX "{\"id\":4,\"op\":\"renew\",\"generation\":$gx}"
check "the holder renews" test "$(jq -r .ok <<<"$REPLY")" = 1

kill -KILL "$HX_PID"
t0=$(now_ms)
took() { ask HY '{"id":5,"op":"acquire","app":"web","kind":"deploy","ref":"v2"}' && [ "$(jq -r .ok <<<"$REPLY")" = 1 ]; }
check "after x is SIGKILLed, y takes the lease once it ran out" wait_for "y takes over" 10 took
dt=$(( $(now_ms) - t0 ))
gy=$($FQ -c "SELECT generation FROM tend.lease WHERE name = 'deploy' AND holder = 'y'")
check "not before (${dt} ms), with a new generation ($gy > $gx)" test "$gy" -gt "$gx" -a "$dt" -ge 2000
# x comes back (a frozen holder that wakes up): its generation is fenced.
helper_open HX2 x
ask HX2 "{\"id\":6,\"op\":\"step\",\"generation\":$gx,\"host\":\"x\",\"step\":\"reverted\"}"
check "x's old generation writes nothing: fenced" bash -c 'jq -e ".ok == 0 and .fenced" <<<"$1" >/dev/null' _ "$REPLY"
check "its step row is unchanged" test "$($FQ -c "SELECT step FROM tend.step WHERE generation = $gx AND host = 'x'")" = switched
ask HX2 "{\"id\":7,\"op\":\"renew\",\"generation\":$gx}"
check "nor can it renew" bash -c 'jq -e ".ok == 0 and .fenced" <<<"$1" >/dev/null' _ "$REPLY"
check "the same UPDATE by hand with generation $gx: 0 rows" \
    test "$($FQ -c "WITH u AS (UPDATE tend.lease SET lease_until = now() + interval '1 h' WHERE name = 'deploy' AND generation = $gx AND holder = 'x' AND lease_until > now() RETURNING 1) SELECT count(*) FROM u")" = 0
# releases --fleet: which hosts ran which release (x says it runs r1,
# then r2; a beat gets no answer: a status after each waits for it).
tell HX2 '{"op":"beat","apps":{"web":{"state":"live","release":"r1"}}}'
ask HX2 '{"id":20,"op":"status"}'
tell HX2 '{"op":"beat","apps":{"web":{"state":"live","release":"r2"}}}'
ask HX2 '{"id":21,"op":"status"}'
rels() { tctl releases web --fleet --json | jq -c "$1"; }
check "releases web --fleet: x ran r1, runs r2 now, newest first" test \
    "$(rels '[.runs[] | select(.host == "x") | [.release, .current]]')" = '[["r2",true],["r1",false]]'
check "the table marks what runs now" bash -c '"$1" -c "$2" releases web --fleet | grep -q "^\* r2 *x "' _ "$TENDCTL" "$T/tend.conf"
ask HY '{"id":10,"op":"status"}'
check "status from y sees the lease taken by y" bash -c 'jq -e ".ok == 1 and .deploy.holder == \"y\" and .deploy.held" <<<"$1" >/dev/null' _ "$REPLY"
ask HY "{\"id\":8,\"op\":\"release\",\"generation\":$gy,\"state\":\"done\"}"
check "y gives the lease back" test "$(jq -r .ok <<<"$REPLY")" = 1
ask HX2 '{"id":9,"op":"acquire","app":"web","kind":"rollback"}'
check "then another host takes it at once" test "$(jq -r .ok <<<"$REPLY")" = 1
gx2=$(jq -r .generation <<<"$REPLY")
ask HX2 "{\"id\":22,\"op\":\"release\",\"generation\":$gx2,\"state\":\"done\"}"
check "x gives it back" test "$(jq -r .ok <<<"$REPLY")" = 1
# y ends (stdin closed): valgrind's verdict.
exec {HY[1]}>&-
wait "$HY_PID"
rc=$?
check "tend-fleet ${vg:+under valgrind }ends cleanly: no error, no leak (exit $rc)" test "$rc" = 0 -a ! -s "$T/vg.log"

# Through PgBouncer in transaction mode: schema, heartbeat, lease.
if command -v pgbouncer >/dev/null; then
	BP=$(free_port)
	mkdir -p "$T/pgb" && chown postgres "$T/pgb"
	printf '"tend" "%s"\n' "$FLEET_PW" > "$T/pgb/users.txt"
	cat > "$T/pgb/pgb.ini" <<EOF2
[databases]
fleet = host=127.0.0.1 port=$PGPORT dbname=fleet
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BP
unix_socket_dir =
auth_type = plain
auth_file = $T/pgb/users.txt
pool_mode = transaction
default_pool_size = 1
logfile = $T/pgb/pgb.log
pidfile = $T/pgb/pgb.pid
EOF2
	chown -R postgres "$T/pgb"
	runuser -u postgres -- pgbouncer -d "$T/pgb/pgb.ini" >/dev/null 2>&1
	on_exit "kill \$(cat $T/pgb/pgb.pid)"
	wait_for "pgbouncer" 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BP"
	FLEET_URL="postgresql://tend:$FLEET_PW@127.0.0.1:$BP/fleet"
	helper_open HB1 z1
	helper_open HB2 z2
	tell HB1 '{"op":"beat","apps":{"web":{"state":"live","release":"r1"}}}'
	ask HB1 '{"id":1,"op":"acquire","app":"web","kind":"deploy"}'
	g=$(jq -r .generation <<<"$REPLY")
	check "through PgBouncer (transaction mode, one server connection): the lease is taken" test "$(jq -r .ok <<<"$REPLY")" = 1
	ask HB2 '{"id":2,"op":"acquire","app":"web","kind":"deploy"}'
	check "and refused to a second host" test "$(jq -r .holder <<<"$REPLY")" = z1
	ask HB2 '{"id":3,"op":"status"}'
	check "status through PgBouncer sees z1's heartbeat" bash -c 'jq -e "[.hosts[].host] | index(\"z1\")" <<<"$1" >/dev/null' _ "$REPLY"
	ask HB1 "{\"id\":4,\"op\":\"release\",\"generation\":$g,\"state\":\"done\"}"
	check "and given back" test "$(jq -r .ok <<<"$REPLY")" = 1
else
	echo "skip - pgbouncer is not installed"
fi

# tendd stops with its helper and an empty loop.
HA=$(helper_pid "$TENDD_PID")
kill -TERM "$TENDD_PID"
wait "$TENDD_PID"; rc=$?
TENDD_PID=
check "tendd with [fleet] stops cleanly (exit $rc)" test "$rc" = 0
check "its loop was empty at exit" bash -c '! grep -q "loop not empty" "$1" && grep -q "exiting" "$1"' _ "$T/tendd.log"
check "its tend-fleet is gone too" wait_for "helper gone" 5 bash -c '! kill -0 "$0" 2>/dev/null' "$HA"
done_testing
