#!/usr/bin/env bash
# The preflight before a start: an app whose database is missing fails at
# once with the reason (and is created with create_database = yes); one
# whose database does not answer waits in 'preflight' (status stays quick
# meanwhile) and fails after preflight_timeout; the connection budget
# warns; the medusa profile's rules stop a start and tendd -t, name the
# variable and never its value; warnings do not stop anything.
. "$(dirname "$0")/../lib.sh"
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
redis_start || { not_ok "Redis starts"; done_testing; }
PG=postgres://app:apppass@127.0.0.1:$PGPORT
$PSQL -c "ALTER USER app CREATEDB" >/dev/null
black_hole || { not_ok "black hole listens"; done_testing; }
GOODSECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
GOODSECRET2=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$T/medusa.env" <<EOF
DATABASE_URL=$PG/shop
REDIS_URL=redis://:rpass@127.0.0.1:$RPORT/0
JWT_SECRET=$GOODSECRET
COOKIE_SECRET=$GOODSECRET2
STORE_CORS=https://shop.example.com
ADMIN_CORS=https://admin.example.com
AUTH_CORS=https://shop.example.com,https://admin.example.com
NODE_ENV=production
EOF
chmod 600 "$T/medusa.env"
sed -e 's/^JWT_SECRET=.*/JWT_SECRET=tooshort1/' -e '/^COOKIE_SECRET/d' \
    -e 's/^STORE_CORS=.*/STORE_CORS=*/' "$T/medusa.env" > "$T/weak.env"
chmod 644 "$T/weak.env"
P=$(free_port)
tend_conf <<EOF
[app:nodb]
dir = /
command = $NODE $SERVER
env = DATABASE_URL=$PG/nosuchdb
autostart = no

[app:created]
dir = /
command = $NODE $SERVER
env = DATABASE_URL=$PG/newshop
create_database = yes
autostart = no

[app:slow]
dir = /
command = $NODE $SERVER
env = DATABASE_URL=postgres://app:apppass@127.0.0.1:$HOLE/shop
preflight_timeout = 3s
autostart = no

[app:big]
dir = /
command = $NODE $SERVER
env = DATABASE_URL=$PG/shop
instances = 4
db_pool_max = 30
autostart = no

[app:store]
profile = medusa
dir = /
command = $NODE $SERVER
port = $P
env_file = $T/medusa.env
migrate = off
autostart = no

[app:weak]
profile = medusa
dir = /
command = $NODE $SERVER
port = $(free_port)
env_file = $T/weak.env
migrate = off
autostart = no
EOF

# tendd -t: the profile's rules are errors, naming variables only.
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# -t: /'
check "tendd -t fails on a broken profile rule (exit 1)" test "$rc" = 1
check "it names the short secret and its length" grep -q "tend.conf:[0-9]*: \[app:weak\]: profile medusa: JWT_SECRET is 9 characters; use at least 32" <<<"$out"
check "the missing variable" grep -q "profile medusa: COOKIE_SECRET is not set" <<<"$out"
check "the wildcard CORS" grep -q "profile medusa: STORE_CORS contains '\*'" <<<"$out"
check "never a value" bash -c "! grep -q tooshort1 <<<\"\$1\"" _ "$out"
check "and warns about the world-readable .env" grep -q "weak.env: warning: readable by every user" <<<"$out"
check "the good medusa app is not blamed" bash -c "! grep -q 'app:store' <<<\"\$1\"" _ "$out"

# The daemon starts anyway: the rules fail that app alone.
tendd_start || { not_ok "tendd starts"; done_testing; }
a=$(date +%s%N); out=$(tctl start nodb 2>&1); rc=$?; b=$(date +%s%N)
printf '# %s\n' "$out"
check "a missing database fails the start (exit 1) in under 1 s ($(( (b - a) / 1000000 )) ms)" test "$rc" = 1 -a $(( (b - a) / 1000000 )) -lt 1000
check "the app is failed with the reason" grep -q 'preflight failed: database "nosuchdb" does not exist' <<<"$(json nodb reason)"
check "the server was never started" bash -c "! grep -q 'started pid' '$T/log/nodb.log'"
check "the reason has no password" bash -c "! grep -q apppass <<<\"\$1\"" _ "$(json nodb reason)"

out=$(tctl start created 2>&1); rc=$?
printf '# %s\n' "$out"
check "create_database = yes: the start succeeds" test "$rc" = 0
check "the database exists now" test "$($PSQL -At -c "SELECT count(*) FROM pg_database WHERE datname = 'newshop'")" = 1
check "the log says it was created" grep -q 'created database "newshop"' "$T/log/created.log"

tctl start --no-wait slow >/dev/null
wait_for "slow in preflight" 5 state_is slow preflight
check "an unreachable database: the app waits in 'preflight'" state_is slow preflight
times=()
for i in 1 2 3 4 5; do
	a=$(date +%s%N); tctl status >/dev/null; b=$(date +%s%N)
	times+=($(( (b - a) / 1000000 )))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
check "status answers in < 50 ms meanwhile (median $med ms)" test "$med" -lt 50
a=$(date +%s%N); tctl check created >/dev/null 2>&1; rc=$?; b=$(date +%s%N)
check "another app's check answers meanwhile ($(( (b - a) / 1000000 )) ms, exit $rc)" test "$rc" = 0 -a $(( (b - a) / 1000000 )) -lt 1000
wait_for "slow failed" 10 state_is slow failed
check "after preflight_timeout it fails, saying why" grep -q "preflight failed: PostgreSQL unreachable at 127.0.0.1:$HOLE: no answer.*preflight_timeout" <<<"$(json slow reason)"

out=$(tctl check big 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "the budget warns when instances x db_pool_max exceed what is left" grep -q '^budget    warn connection budget: the app may open 120 connections' <<<"$out"
check "a warning does not fail the check (exit 0)" test "$rc" = 0
out=$(tctl start big 2>&1); rc=$?
check "nor the start" test "$rc" = 0
check "the warning is in the app log" grep -q 'preflight: warning: connection budget' "$T/log/big.log"

out=$(tctl check weak 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "tendctl check fails on the profile's rules (exit 1)" test "$rc" = 1
check "and names each" bash -c "grep -q '^profile   FAIL profile medusa: JWT_SECRET is 9 characters' <<<\"\$1\" && grep -q 'COOKIE_SECRET is not set' <<<\"\$1\"" _ "$out"
check "and warns about the .env mode" grep -q '^env       warn .*weak.env is readable by every user' <<<"$out"
check "never printing a value" bash -c "! grep -q tooshort1 <<<\"\$1\"" _ "$out"
out=$(tctl start weak 2>&1); rc=$?
check "the start fails too (exit 1)" test "$rc" = 1
check "with the rule as the reason" grep -q 'preflight failed: profile medusa: ' <<<"$(json weak reason)"

out=$(tctl check store 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a sound medusa app passes (exit 0)" test "$rc" = 0
check "with PostgreSQL and Redis versions" bash -c "grep -q '^postgres  ok   PostgreSQL [0-9]' <<<\"\$1\" && grep -q '^redis     ok   Redis [0-9]' <<<\"\$1\"" _ "$out"
out=$(tctl start store 2>&1); rc=$?
check "and it starts (exit 0)" test "$rc" = 0
check "health comes from the profile: ready by /health" test "$(json store health)" = ok
check "and the heap too (75% of memory)" test "$(json store heap_mib)" != null
check "secrets are nowhere in status" bash -c "! '$TENDCTL' -c '$T/tend.conf' status --json | grep -q '$GOODSECRET'"
done_testing
