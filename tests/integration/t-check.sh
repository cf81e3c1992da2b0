#!/usr/bin/env bash
# tendctl check: DATABASE_URL and REDIS_URL checked against a real
# PostgreSQL and Redis; each failure class gets its plain message and exit
# 1 within a second; a healthy app passes with versions; no secret shown.
. "$(dirname "$0")/../lib.sh"
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
redis_start || { not_ok "Redis starts"; done_testing; }
DEAD=$(free_port)
app() {	# NAME DATABASE_URL REDIS_URL
	printf '[app:%s]\ndir = /\ncommand = true\nautostart = no\n' "$1"
	[ -n "$2" ] && printf 'env = DATABASE_URL=%s\n' "$2"
	[ -n "$3" ] && printf 'env = REDIS_URL=%s\n' "$3"
	printf '\n'
}
PG=postgres://app:apppass@127.0.0.1:$PGPORT
{
	app good "$PG/shop" "redis://:rpass@127.0.0.1:$RPORT/1"
	app pgdown "postgres://app:apppass@127.0.0.1:$DEAD/shop" ""
	app pgpass "postgres://app:wrongsecret@127.0.0.1:$PGPORT/shop" ""
	app pgnodb "$PG/nope" ""
	app rpass "" "redis://:wrongsecret@127.0.0.1:$RPORT/0"
	app rdown "" "redis://127.0.0.1:$DEAD/0"
	app nothing "" ""
	app byname "postgres://app:apppass@localhost:$PGPORT/shop" ""
	app badurl "postgres://app:apppass@127.0.0.1:$PGPORT/shop?nosuchoption=1" ""
	app noname "postgres://app:apppass@no-such-host.invalid:$PGPORT/shop" ""
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
run() {	# APP -> $out, $rc, $ms
	local a b
	a=$(date +%s%N); out=$(tctl check "$1" 2>&1); rc=$?; b=$(date +%s%N)
	ms=$(( (b - a) / 1000000 ))
	printf '%s\n' "$out" | sed 's/^/# /'
}
run good
check "a healthy app passes (exit 0)" test "$rc" = 0
check "and shows the PostgreSQL version" grep -q "^postgres  ok   PostgreSQL [0-9][0-9.]* .*at 127.0.0.1:$PGPORT, database shop" <<<"$out"
check "and the Redis version" grep -q "^redis     ok   Redis [0-9][0-9.]* at 127.0.0.1:$RPORT, database 1" <<<"$out"
run pgdown
check "PostgreSQL down: exit 1 in under 1 s ($ms ms)" test "$rc" = 1 -a "$ms" -lt 1000
check "says unreachable, connection refused" grep -q "PostgreSQL unreachable at 127.0.0.1:$DEAD: connection refused" <<<"$out"
run pgpass
check "wrong password: exit 1 in under 1 s ($ms ms)" test "$rc" = 1 -a "$ms" -lt 1000
check "says authentication failed for the user" grep -q 'authentication failed for user "app"' <<<"$out"
check "never shows the password" bash -c "! grep -q wrongsecret <<<\"\$1\"" _ "$out"
run pgnodb
check "missing database: exit 1 in under 1 s ($ms ms)" test "$rc" = 1 -a "$ms" -lt 1000
check "names it and how to create it" grep -q "database \"nope\" does not exist.*createdb -h 127.0.0.1 -p $PGPORT -U app nope" <<<"$out"
run rpass
check "Redis wrong password: exit 1 in under 1 s ($ms ms)" test "$rc" = 1 -a "$ms" -lt 1000
check "says the password was refused" grep -q "Redis at 127.0.0.1:$RPORT refused the password" <<<"$out"
check "never shows the Redis password" bash -c "! grep -q wrongsecret <<<\"\$1\"" _ "$out"
run rdown
check "Redis down: exit 1 in under 1 s ($ms ms)" test "$rc" = 1 -a "$ms" -lt 1000
check "says unreachable" grep -q "Redis unreachable at 127.0.0.1:$DEAD" <<<"$out"
run nothing
check "an app without URLs: exit 0" test "$rc" = 0
check "and says there is nothing to check" grep -q 'nothing to check' <<<"$out"
run byname
check "a host name is resolved without blocking and works (exit 0)" test "$rc" = 0
check "and the check names the host" grep -q "^postgres  ok .* at localhost:$PGPORT" <<<"$out"
run badurl
check "an invalid DATABASE_URL: exit 1" test "$rc" = 1
check "names the parameter tend does not take" grep -q 'DATABASE_URL: parameter "nosuchoption" is not supported' <<<"$out"
check "and never shows the password" bash -c "! grep -q apppass <<<\"\$1\"" _ "$out"
run noname
check "an unknown host: exit 1" test "$rc" = 1
check "says it does not resolve" grep -q 'PostgreSQL host no-such-host.invalid does not resolve' <<<"$out"
done_testing
