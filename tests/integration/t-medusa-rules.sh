#!/usr/bin/env bash
# The medusa profile's rules that catch outages before they happen, and
# what a running Medusa says about itself:
#   - every Redis URL the environment names (REDIS_URL, CACHE_REDIS_URL,
#     EVENTS_REDIS_URL, WE_REDIS_URL, LOCKING_REDIS_URL) gets a check of
#     its own, naming the variable, against real Redis servers (two up,
#     one port down, one wrong password), never showing a password;
#   - a production medusa app with no Redis at all fails its check, and
#     a CORS entry no browser can match fails it too, by position;
#   - two medusa apps running the worker on one database: a warning;
#   - an app whose output says "Local Event Bus installed" stays live,
#     and status (JSON and table) and check show the warning, until a
#     run that does not say it.
. "$(dirname "$0")/../lib.sh"
redis_start || { not_ok "Redis starts"; done_testing; }
R1=$RPORT
redis_start || { not_ok "a second Redis starts"; done_testing; }
R2=$RPORT
DEAD=$(free_port)
app_user || { not_ok "app user"; done_testing; }

GOOD1=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
GOOD2=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# A sound production environment but for what each app changes.
medusa_env() {
	cat <<EOF
DATABASE_URL=postgres://app:apppass@127.0.0.1:$DEAD/shop
JWT_SECRET=$GOOD1
COOKIE_SECRET=$GOOD2
STORE_CORS=https://shop.example.com
ADMIN_CORS=https://admin.example.com
AUTH_CORS=https://shop.example.com,https://admin.example.com
NODE_ENV=production
EOF
}
envfile() {	# NAME: stdin to $T/NAME.env, the app user's, mode 600
	cat > "$T/$1.env"
	chown "$APP_USER:$APP_USER" "$T/$1.env"
	chmod 600 "$T/$1.env"
}
{
	medusa_env | grep -v '^DATABASE_URL'
	echo "REDIS_URL=redis://:rpass@127.0.0.1:$R1/0"
	echo "CACHE_REDIS_URL=redis://:rpass@127.0.0.1:$R2/1"
	echo "EVENTS_REDIS_URL=redis://:rpass@127.0.0.1:$R1/2"
	echo "WE_REDIS_URL=redis://:wrongsecret@127.0.0.1:$R2/0"
	echo "LOCKING_REDIS_URL=redis://:rpass@127.0.0.1:$DEAD/0"
} | envfile multi
{
	echo "REDIS_URL=redis://:rpass@127.0.0.1:$R1/0"
	echo "CACHE_REDIS_URL=redis://:rpass@127.0.0.1:$R2/1"
	echo "LOCKING_REDIS_URL=redis://:rpass@127.0.0.1:$R2/3"
} | envfile plain
medusa_env | sed -e 's|^AUTH_CORS=.*|AUTH_CORS=https://shop.example.com, https://admin.example.com/|' \
    -e 's|/shop$|/other|' | envfile noredis
{ medusa_env; echo MEDUSA_WORKER_MODE=worker; echo "REDIS_URL=redis://:rpass@127.0.0.1:$R1/0"; } |
    envfile wa
{ medusa_env | sed "s|@127.0.0.1:$DEAD/|@localhost:$DEAD/|"; echo MEDUSA_WORKER_MODE=shared
  echo "REDIS_URL=redis://:rpass@127.0.0.1:$R1/0"; } | envfile wb
{ medusa_env | sed 's|/shop$|/blog|'; echo MEDUSA_WORKER_MODE=worker
  echo "REDIS_URL=redis://:rpass@127.0.0.1:$R1/0"; } | envfile wc

# An app that prints what Medusa prints when medusa-config sets no Redis
# modules (twice: one warning each all the same), then serves.
install -d -o "$APP_USER" -g "$APP_USER" "$T/mapp"
cp "$SERVER" "$T/mapp/server.js"
cat > "$T/mapp/start.sh" <<EOF
#!/bin/sh
if [ ! -e quiet ]; then
	echo 'warn:    Local Event Bus installed. This is not recommended for production.'
	echo 'info:    Locking module: Using "in-memory" as default.'
	echo 'warn:    Local Event Bus installed. This is not recommended for production.' >&2
fi
exec $NODE server.js
EOF
chmod 755 "$T/mapp/start.sh"
chown -R "$APP_USER:$APP_USER" "$T/mapp"
MP=$(free_port)
PP=$(free_port)

tend_conf <<EOF
[app:multi]
dir = /
user = $APP_USER
command = true
env_file = $T/multi.env
autostart = no

[app:plain]
dir = /
user = $APP_USER
command = true
env_file = $T/plain.env
autostart = no

[app:noredis]
profile = medusa
dir = /
user = $APP_USER
command = true
env_file = $T/noredis.env
migrate = off
autostart = no

[app:wa]
profile = medusa
dir = /
user = $APP_USER
command = true
port = $(free_port)
env_file = $T/wa.env
migrate = off
autostart = no

[app:wb]
profile = medusa
dir = /
user = $APP_USER
command = true
port = $(free_port)
env_file = $T/wb.env
migrate = off
autostart = no

[app:wc]
profile = medusa
dir = /
user = $APP_USER
command = true
port = $(free_port)
env_file = $T/wc.env
migrate = off
autostart = no

[app:logmedusa]
profile = medusa
dir = $T/mapp
user = $APP_USER
command = ./start.sh
port = $MP
heap = off
migrate = off
preflight = no
min_ready = 200ms

[app:lognone]
dir = $T/mapp
user = $APP_USER
command = ./start.sh
port = $PP
health = /health
min_ready = 200ms
EOF
tendd_start || { not_ok "tendd starts"; done_testing; }

run() {	# APP -> $out, $rc
	out=$(tctl check "$1" 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $1: /"
}
nowhere() {	# DESC WORD: WORD is not in $out
	check "$1" bash -c "! grep -q -- \"\$2\" <<<\"\$1\"" _ "$out" "$2"
}

# --- every Redis URL, one line each ----------------------------------
run multi
check "one Redis down, one password wrong: check fails (exit 1)" test "$rc" = 1
check "REDIS_URL's line reads as before" grep -q "^redis     ok   Redis [0-9][0-9.]* at 127.0.0.1:$R1, database 0" <<<"$out"
check "CACHE_REDIS_URL is checked against the second Redis" grep -q "^redis     ok   CACHE_REDIS_URL: Redis [0-9][0-9.]* at 127.0.0.1:$R2, database 1" <<<"$out"
check "EVENTS_REDIS_URL against the first" grep -q "^redis     ok   EVENTS_REDIS_URL: Redis [0-9][0-9.]* at 127.0.0.1:$R1, database 2" <<<"$out"
check "WE_REDIS_URL's wrong password is named" grep -q "^redis     FAIL WE_REDIS_URL: Redis at 127.0.0.1:$R2 refused the password" <<<"$out"
check "LOCKING_REDIS_URL's server is down" grep -q "^redis     FAIL LOCKING_REDIS_URL: Redis unreachable at 127.0.0.1:$DEAD" <<<"$out"
nowhere "no password is shown" wrongsecret
nowhere "not even the right one" rpass
js=$(tctl check multi --json 2>/dev/null)
check "JSON: five Redis checks, each with its variable" test "$(jq '[.checks[] | select(.name == "redis") | .variable] | sort | join(",")' <<<"$js")" = '"CACHE_REDIS_URL,EVENTS_REDIS_URL,LOCKING_REDIS_URL,REDIS_URL,WE_REDIS_URL"'
check "JSON: the failed one is LOCKING_REDIS_URL's" test "$(jq '.checks[] | select(.variable == "LOCKING_REDIS_URL") | .ok' <<<"$js")" = false
run plain
check "three good Redis URLs on two servers pass (exit 0)" test "$rc" = 0
check "each with its line" test "$(grep -c '^redis     ok ' <<<"$out")" = 3

# --- the medusa profile's rules --------------------------------------
run noredis
check "production with no Redis at all fails (exit 1)" test "$rc" = 1
check "saying Medusa would fall back to in-memory modules" grep -q '^profile   FAIL profile medusa: no Redis is set (REDIS_URL, or CACHE_REDIS_URL, EVENTS_REDIS_URL, WE_REDIS_URL, LOCKING_REDIS_URL): in production Medusa would fall back to an in-memory event bus' <<<"$out"
check "a CORS entry with a space is named by position" grep -q "^profile   FAIL profile medusa: AUTH_CORS: entry 2 contains white space" <<<"$out"
nowhere "and its value is not shown" admin.example.com

run wa
check "two workers on one database (127.0.0.1 and localhost): a warning" grep -q '^profile   warn profile medusa: 1 instance of other medusa apps on the same database' <<<"$out"
check "the warning names the variable" grep -q 'run the worker too (MEDUSA_WORKER_MODE worker or shared, the default): scheduled jobs run more than once' <<<"$out"
nowhere "never the database's name" '/shop'
run wc
check "a worker on another database is not warned" bash -c "! grep -q 'same database' <<<\"\$1\"" _ "$out"

# --- what the running app says of itself ------------------------------
wait_for "logmedusa live" 20 state_is logmedusa live || not_ok "logmedusa goes live"
wait_for "lognone live" 20 state_is lognone live || not_ok "lognone goes live"
has_warnings() { [ "$(json "$1" 'warnings | length')" = "$2" ]; }
wait_for "logmedusa's warnings" 5 has_warnings logmedusa 2
st=$(tctl status --json)
w=$(jq -r '.apps[] | select(.name == "logmedusa") | .warnings[]' <<<"$st")
printf '%s\n' "$w" | sed 's/^/# warnings: /'
check "status --json: warnings has the event bus, once (said twice)" test "$(grep -c 'configure the Redis event bus module' <<<"$w")" = 1
check "and the locking module" grep -q 'configure the Redis locking provider' <<<"$w"
check "the app stays live" state_is logmedusa live
check "and was not restarted" test "$(json logmedusa restarts)" = 0
check "a generic app printing the same is not warned" has_warnings lognone 0
out=$(tctl status 2>&1)
printf '%s\n' "$out" | sed 's/^/# status: /'
check "the table shows the warning under the app" bash -c "grep -A2 '^logmedusa ' <<<\"\$1\" | grep -q '^ *warning: Medusa runs the in-memory event bus'" _ "$out"
check "tendd says it once in the app's log" test "$(grep -c 'tend.*warning: Medusa runs the in-memory event bus' "$T/log/logmedusa.log")" = 1
run logmedusa
check "tendctl check shows it as a warning" grep -q '^log       warn Medusa runs the in-memory event bus' <<<"$out"

# A run that does not say it any more: the warnings go.
touch "$T/mapp/quiet"
tctl restart logmedusa >/dev/null 2>&1
wait_for "logmedusa live again" 20 state_is logmedusa live || not_ok "logmedusa live after restart"
check "after a quiet run the warnings are gone" has_warnings logmedusa 0
out=$(tctl status 2>&1)
check "and the table says nothing" bash -c "! grep -q 'warning:' <<<\"\$1\"" _ "$out"
done_testing
