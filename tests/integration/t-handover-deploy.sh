#!/usr/bin/env bash
# SIGUSR2 with a deployed release group (tendd(8), Handover): a server
# behind a real nginx, on its second port set after two deploys, and a
# worker that follows it, both run by a real unprivileged user.  Under a
# bounded wrk load (loopback) tendd hands over: no request fails, both
# keep their pids, release and port set; a deploy afterwards moves both.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "app user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/shop
user_repo "$SRC"
mkdir -p "$APPDIR/shared"
printf 'GREETING=hello\n' > "$APPDIR/shared/.env"
chmod 600 "$APPDIR/shared/.env"
chown -R "$APP_USER:" "$APPDIR"
P=$(free_port)
W=$(free_port)
RESERVED_PORTS="$P $((P + 100)) $W"
UP=$T/nginx/upstream-server.conf
mkdir -p "$T/nginx"
group_conf() {
	tend_conf <<EOF
[app:server]
dir = $APPDIR
repo = $SRC
user = $APP_USER
shared = .env
env_file = $APPDIR/shared/.env
command = $NODE server.js
port = $P
health = /health
ready_timeout = 20s
nginx_upstream = $UP
nginx_test = $NGINX_TEST
nginx_reload = $NGINX_RELOAD
drain_timeout = 1s

[app:worker]
follows = server
user = $APP_USER
env_file = $APPDIR/shared/.env
command = $NODE server.js
port = $W
health = /health
ready_timeout = 20s
EOF
}
NGINX_TEST=true NGINX_RELOAD=true group_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
nginx_start "$UP" server || { not_ok "nginx starts"; done_testing; }
group_conf
tctl reread >/dev/null
serves() { wait_for "nginx to serve $1" 5 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }
worker_runs() { curl -s --max-time 2 "http://127.0.0.1:$W/" | grep -q "^hello $1 "; }

check "deploy v1" tctl deploy server
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
check "deploy v2" tctl deploy server
check "nginx serves v2" serves v2
check "from the second port set" grep -q "server 127.0.0.1:$((P + 100));" "$UP"
check "the worker runs v2" wait_for "worker v2" 10 worker_runs v2
one_pid() { [ "$(json server 'pids | length')" = 1 ]; }
check "the old server instance is gone" wait_for "old set stopped" 10 one_pid
rel=$(json server release)
spid=$(json server pid) wpid=$(json worker pid)

load 6 "$T/wrk"
sleep 1		# requests before the signal: the load runs for 6 s
kill -USR2 "$TENDD_PID"
check "the new tendd took both over" \
    wait_for "taken over" 10 grep -q "2 apps taken over" "$T/tendd.log"
wait "$LOAD_PID"
read -r bad errs <<<"$(load_result "$T/wrk")"
echo "# handover under load: $(load_requests "$T/wrk") requests, $bad non-2xx, $errs socket errors"
check "no failed request through nginx ($bad non-2xx, $errs errors)" test "$bad" = 0 -a "$errs" = 0
check "the server kept its pid" test "$(json server pid)" = "$spid"
check "the worker kept its pid" test "$(json worker pid)" = "$wpid"
check "the server's release is still $rel" test "$(json server release)" = "$rel"
check "the worker's too" test "$(json worker release)" = "$rel"
check "both live" bash -c "[ \"\$(\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '[.apps[].state] | unique | join(\",\")')\" = live ]"
check "nginx still serves v2" serves v2

# A deploy afterwards moves both, to the first port set.
echo v3 > "$SRC/version.txt"; git_commit "$SRC" v3
check "deploy v3 after the handover" tctl deploy server
check "nginx serves v3" serves v3
check "from the first port set" grep -q "server 127.0.0.1:$P;" "$UP"
check "the worker runs v3" wait_for "worker v3" 10 worker_runs v3
check "the adopted server process is gone" wait_for "old server gone" 10 bash -c "! kill -0 $spid 2>/dev/null"
check "the adopted worker process is gone" test ! -d "/proc/$wpid"
done_testing
