#!/usr/bin/env bash
# The database and Redis probe as the app's user, with only the URL parts
# tend honours: parameters that would point libpq at files or settings
# (sslkey, passfile, service, options, a password in the query in any
# encoding...) are refused by name before anything connects (a fake
# PostgreSQL records every connection); an accepted URL reaches the
# server as just its user, database and password; root's ~/.pgpass and
# PG* variables are never used; the probe's process runs as the app's
# user and group; no password in any message, log or command line.
. "$(dirname "$0")/../lib.sh"
app_user || { not_ok "app user"; done_testing; }
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
black_hole || { not_ok "black hole listens"; done_testing; }
FAKE=$(free_port)
python3 "$SRCDIR/tests/fake-pg.py" "$FAKE" "$T/fake.out" &
on_exit "kill $!"
touch "$T/fake.out"
# Listening, seen without connecting: every connection is recorded.
wait_for "fake PostgreSQL" 5 bash -c "ss -Hltn 'sport = :$FAKE' | grep -q ." ||
    { not_ok "fake PostgreSQL listens"; done_testing; }

# Root's own ~/.pgpass knows the test database's password: tend must not
# lend it to an app.  An existing one is put back at exit.
ROOTHOME=$(getent passwd root | cut -d: -f6)
if [ -e "$ROOTHOME/.pgpass" ]; then
	cp -a "$ROOTHOME/.pgpass" "$T/pgpass.saved"
	on_exit "cp -a '$T/pgpass.saved' '$ROOTHOME/.pgpass'"
else
	on_exit "rm -f '$ROOTHOME/.pgpass'"
fi
printf '*:*:*:app:apppass\n' > "$ROOTHOME/.pgpass"
chmod 600 "$ROOTHOME/.pgpass"
check "root's ~/.pgpass works for root's own psql" \
    psql "postgres://app@127.0.0.1:$PGPORT/shop" -X -At -c 'SELECT 1'

SECRET=Fk9-$RANDOM$RANDOM
app() {	# NAME DATABASE_URL [REDIS_URL] [user|root]
	printf '[app:%s]\ndir = /\ncommand = true\nautostart = no\n' "$1"
	[ "${4:-user}" = user ] && printf 'user = %s\n' "$APP_USER"
	[ -n "$2" ] && printf 'env = DATABASE_URL=%s\n' "$2"
	[ -n "${3:-}" ] && printf 'env = REDIS_URL=%s\n' "$3"
	printf '\n'
}
F="postgres://app:$SECRET@127.0.0.1:$FAKE/shop"
REFUSED="sslkey sslcert sslrootcert passfile service options sslcrl"
{
	for p in $REFUSED; do
		app "p_$p" "$F?sslmode=disable&$p=/root/x$SECRET"
	done
	app pw_encoded "$F?pass%77ord=$SECRET"
	app pw_query "$F?password=$SECRET"
	app name_encoded "$F?%73%73%6c%6b%65%79=/root/k"
	app odd_name "$F?x$SECRET%20y=1"
	app two_hosts "postgres://app:$SECRET@127.0.0.1:$FAKE,127.0.0.1:$FAKE/shop"
	app redis_q "" "redis://:$SECRET@127.0.0.1:$FAKE/0?password=$SECRET"
	# Accepted: every part %-encoded, decoded once.
	app fake "postgres://ap%70:p%40ss%2F$SECRET@127.0.0.1:$FAKE/sh%20op?sslmode=disable"
	app nopw_user "postgres://app@127.0.0.1:$PGPORT/shop"
	app nopw_root "postgres://app@127.0.0.1:$PGPORT/shop" "" root
	app sock_user "postgres://app:apppass@$(sed 's|/|%2F|g' <<<"$T/pg"):$PGPORT/shop"
	app sock_root "postgres://app:apppass@$(sed 's|/|%2F|g' <<<"$T/pg"):$PGPORT/shop" "" root
	app good "postgres://app:apppass@127.0.0.1:$PGPORT/shop"
	app hole "postgres://app:$SECRET@127.0.0.1:$HOLE/shop" "redis://:$SECRET@127.0.0.1:$HOLE/0"
} | tend_conf
# Variables libpq reads as defaults: tendd has them, the probe must not.
export PGOPTIONS="-c application_name=leaked" PGAPPNAME=leaked \
    PGDATESTYLE=leaked PGSSLKEY=/root/leaked PGPASSWORD=apppass
tendd_start || { not_ok "tendd starts"; done_testing; }
unset PGOPTIONS PGAPPNAME PGDATESTYLE PGSSLKEY PGPASSWORD

run() {	# APP -> $out, $rc
	out=$(tctl check "$1" 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $1: /"
}
for p in $REFUSED; do
	run "p_$p"
	check "?$p=...: refused (exit 1), naming the parameter" bash -c \
	    "[ $rc = 1 ] && grep -q 'DATABASE_URL: parameter \"$p\" is not supported' <<<\"\$1\"" _ "$out"
	check "?$p=...: not its value" bash -c "! grep -q 'x$SECRET' <<<\"\$1\"" _ "$out"
done
run pw_encoded
check "?pass%77ord=: refused as \"password\"" bash -c \
    "[ $rc = 1 ] && grep -q 'DATABASE_URL: parameter \"password\" is not supported' <<<\"\$1\"" _ "$out"
run pw_query
check "?password=: refused" grep -q 'parameter "password" is not supported' <<<"$out"
run name_encoded
check "an encoded name is its name (sslkey)" grep -q 'parameter "sslkey" is not supported' <<<"$out"
run odd_name
check "a name that is no name: refused, and not quoted" bash -c \
    "[ $rc = 1 ] && grep -q 'unusual name is not supported' <<<\"\$1\" && ! grep -q '$SECRET' <<<\"\$1\"" _ "$out"
run two_hosts
check "a list of hosts: refused" bash -c "[ $rc = 1 ] && grep -q 'DATABASE_URL: ' <<<\"\$1\"" _ "$out"
run redis_q
check "REDIS_URL ?password=: refused, naming it" bash -c \
    "[ $rc = 1 ] && grep -q 'REDIS_URL: parameter \"password\" is not supported' <<<\"\$1\"" _ "$out"
check "no refused URL reached the server" test "$(wc -l < "$T/fake.out")" = 0

run fake
check "an accepted URL connects (the fake server refuses it: exit 1)" test "$rc" = 1
check "and says authentication failed" grep -q 'authentication failed for user "app" on 127.0.0.1:' <<<"$out"
wait_for "the fake server's record" 5 test -s "$T/fake.out"
check "one connection reached the fake server" test "$(wc -l < "$T/fake.out")" = 1
rec=$(head -n 1 "$T/fake.out")
echo "# startup parameters: $(jq -c .params <<<"$rec")"
check "it sent only user, database and application_name" test \
    "$(jq -c '.params | keys' <<<"$rec")" = '["application_name","database","user"]'
check "the user and database decoded once" test \
    "$(jq -r '"\(.params.user)|\(.params.database)|\(.params.application_name)"' <<<"$rec")" = "app|sh op|tend check"
check "the password decoded once" test "$(jq -r .password <<<"$rec")" = "p@ss/$SECRET"
# "leaked" in hex: the value of every PG* variable tendd had.
check "nothing of tendd's PG* variables" bash -c "! grep -q 6c65616b6564 <<<\"\$1\"" _ "$(jq -r .raw <<<"$rec")"

run nopw_user
check "no password, as the app's user: root's ~/.pgpass is not used (exit 1)" test "$rc" = 1
check "it says a password is wanted" grep -q 'wants a password for user "app" and DATABASE_URL has none' <<<"$out"
run nopw_root
check "no password, app without user= (as root): ~/.pgpass is not used either" test "$rc" = 1
check "it says a password is wanted" grep -q 'wants a password for user "app" and DATABASE_URL has none' <<<"$out"
check "nor is tendd's PGPASSWORD" bash -c "! grep -q '^postgres  ok' <<<\"\$1\"" _ "$out"

# A socket directory only postgres may enter: as the app's user the probe
# cannot reach it; as root (no user =) it can.
run sock_user
check "a socket directory the app's user cannot enter: refused by the kernel" bash -c \
    "[ $rc = 1 ] && grep -q 'PostgreSQL unreachable at the socket in $T/pg (port $PGPORT): the app.s user may not connect there' <<<\"\$1\"" _ "$out"
run sock_root
check "the same socket for an app run as root: ok" bash -c "[ $rc = 0 ] && grep -q '^postgres  ok .* at the socket in $T/pg' <<<\"\$1\"" _ "$out"
run good
check "a healthy app as its user passes" test "$rc" = 0

# The probe's process, caught while it waits on the black hole.
tctl check hole > "$T/hole.out" 2>&1 &
cpid=$!
# Only this test's tendd's children: another tendd may run on the machine.
probes() { ps -o pid=,uid=,gid=,args= --ppid "$TENDD_PID"; }
probe_as_user() {
	probes | awk -v u="$APP_UID" -v g="$APP_GID" \
	    '/tend-probe (pg|redis) / && $2 == u && $3 == g { n++ } END { exit n >= 2 ? 0 : 1 }'
}
check "the PostgreSQL and Redis probes run as the app's user and group" wait_for "probes" 5 probe_as_user
probes | grep '[t]end-probe' | sed 's/^/# ps: /'
check "no probe runs as root" bash -c "! ps -o uid=,args= --ppid $TENDD_PID | awk '/[t]end-probe/ && \$1 == 0' | grep -q ."
pid=$(probes | awk '/[t]end-probe pg / { print $1; exit }')
envf=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null)
printf '%s\n' "$envf" | grep -v TEND_PROBE_URL | sed 's/^/# environ: /'
check "its HOME is the app user's" grep -qx "HOME=$T/home/$APP_USER" <<<"$envf"
check "no password file, no service file" bash -c \
    "grep -qx 'PGPASSFILE=/dev/null/none' <<<\"\$1\" && grep -qx 'PGSERVICEFILE=/dev/null' <<<\"\$1\" && grep -qx 'PGSYSCONFDIR=/dev/null/none' <<<\"\$1\"" _ "$envf"
check "no PG* variable of tendd's" bash -c "! grep -q leaked <<<\"\$1\" && ! grep -q '^PGPASSWORD=' <<<\"\$1\"" _ "$envf"
ps_clean() { local a; a=$(ps -eo args=); ! grep -qF -e "$SECRET" -e "p%40ss" <<<"$a"; }
check "no command line holds the password" ps_clean
wait $cpid
rc=$?
sed 's/^/# hole: /' "$T/hole.out"
check "the check then says no answer (exit 1)" bash -c "[ $rc = 1 ] && grep -q 'PostgreSQL unreachable at 127.0.0.1:$HOLE: no answer' '$T/hole.out'"

check "the password is in no log" bash -c "! grep -rq -e '$SECRET' -e 'p%40ss' '$T/log' '$T/tendd.log'"
check "nor in status" bash -c "! '$TENDCTL' -c '$T/tend.conf' status --json | grep -q '$SECRET'"
done_testing
