#!/usr/bin/env bash
# nginx_switch = lua: deploys, a reload and a rollback switch nginx's port
# set over its switch socket, without reloading nginx, so no client
# connection is closed.  Under each, three clients at once through a real
# nginx (2 workers, upstream keep-alive): wrk with one request per
# connection, wrk keep-alive GETs, and tests/ka-post.py's keep-alive POSTs
# on 8 connections that never retry.  Every one must see 0 failed
# requests, nginx's workers must be the same processes throughout, and
# the upstream keep-alive connections to the old instances must be gone
# once those stop.  The socket is reachable by root alone.
#
# BIND_DELAY_MS (t-switch-slow.sh sets 2000): the app listens that long
# after it starts.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] ||
    { not_ok "libnginx-mod-http-lua is installed (./setup test installs it)"; done_testing; }
DELAY=${BIND_DELAY_MS:-0}
# A name with the characters an app name may have beyond letters: it
# names nginx's upstream and shared dict, and lua code refers to them.
A=shop-web.1
app_user || { not_ok "create the app's user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/web
user_repo "$SRC"
cat > "$SRC/build.sh" <<'EOF'
echo "building $(cat version.txt)"
EOF
git_commit "$SRC" "build script"
mkdir -p "$T/srv"
app_tree "$APPDIR"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
# The upstream file and nginx's switch socket: a directory only root may
# enter, as tend requires for nginx_switch = lua.
UPDIR=$T/nginx/tend
install -d -o root -g root -m 700 "$UPDIR"
UP=$UPDIR/upstream-$A.conf
SOCK=$UPDIR/tend-$A.sock
conf() {
	tend_conf <<EOF
[app:$A]
dir = $APPDIR
user = $APP_USER
repo = $SRC
shared = .env
env_file = $APPDIR/shared/.env
env = BIND_DELAY_MS=$DELAY
build = sh build.sh
command = $NODE server.js
port = $P
health = /health
ready_timeout = 30s
health_interval = 1s
nginx_upstream = $UP
nginx_test = ${NGINX_TEST:-true}
nginx_reload = ${NGINX_RELOAD:-true}
drain_timeout = 1s
EOF
}
conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "tendd -t: the lua switch is in effect, and says why" bash -c "[ $rc = 0 ] && grep -q '^$A: nginx_switch lua: libnginx-mod-http-lua is installed and $UPDIR is root.s alone' <<<\"\$1\"" _ "$out"
tendd_start || { not_ok "tendd starts"; done_testing; }
check "tendd wrote the upstream file in the lua form" grep -q 'balancer_by_lua_block' "$UP"
NGINX_WORKERS=2 nginx_start "$UP" "$A" || { not_ok "nginx starts"; done_testing; }
conf
tctl reread >/dev/null
check "nginx listens on the switch socket" test -S "$SOCK"

workers() { pgrep -P "$(cat "$T/nginx/nginx.pid")" | sort | tr '\n' ' '; }
serves() { wait_for "nginx to serve $1" 10 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }
# Established connections from nginx to port $1 (the upstream pool).
pooled() { ss -Htn state established "( dport = :$1 )" | wc -l; }

out=$(tctl deploy "$A" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "the first deploy exits 0" test "$rc" = 0
check "nginx serves v1" serves v1
W0=$(workers)
echo "# nginx workers: $W0"

# three KIND: the three clients for $2 seconds, results in $T/KIND.*
three() {
	wrk -t1 -c4 -d"$2"s --timeout 3s -H 'Connection: close' \
	    "http://127.0.0.1:$NGPORT/" >"$T/$1.close" 2>&1 &
	L1=$!
	wrk -t1 -c4 -d"$2"s --timeout 3s "http://127.0.0.1:$NGPORT/" \
	    >"$T/$1.ka" 2>&1 &
	L2=$!
	python3 "$SRCDIR/tests/ka-post.py" "$NGPORT" "$2" 8 >"$T/$1.post" 2>&1 &
	L3=$!
}
# three_check KIND WHAT: one result line per client.
three_check() {
	local k=$1 bad errs n post
	wait "$L1" "$L2" "$L3"
	read -r bad errs <<<"$(load_result "$T/$k.close")"
	n=$(load_requests "$T/$k.close")
	echo "# $2, wrk Connection: close: $n requests, $bad non-2xx, $errs socket errors"
	check "$2: one request per connection, 0 failed of $n" test "${n:-0}" -gt 0 -a "$bad" = 0 -a "$errs" = 0
	read -r bad errs <<<"$(load_result "$T/$k.ka")"
	n=$(load_requests "$T/$k.ka")
	echo "# $2, wrk keep-alive: $n requests, $bad non-2xx, $errs socket errors"
	check "$2: keep-alive GETs, 0 failed of $n" test "${n:-0}" -gt 0 -a "$bad" = 0 -a "$errs" = 0
	post=$(cat "$T/$k.post")
	echo "# $2, keep-alive POSTs (http.client, 8 connections): $post" | head -n 3
	check "$2: keep-alive POSTs that never retry, 0 failed" bash -c "grep -qE '^ok [1-9][0-9]* failed 0 ' <<<\"\$1\"" _ "$post"
}

old_gone() { test "$(json "$A" 'pids | length')" = 1; }
# op NAME CMD...: CMD under the three clients; it exits 0, saying it
# switched without a reload; the old instance stops; 0 failed requests.
op() {
	local name=$1 old_port
	shift
	old_port=$(sed -n 's/^.*server 127.0.0.1:\([0-9]*\);.*/\1/p' "$UP")
	three "$name" $((8 + DELAY / 1000))
	sleep 1
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	check "$name exits 0" test "$rc" = 0
	check "$name switched nginx without a reload" grep -q 'nginx switched, no reload' <<<"$out"
	wait_for "the old instance to stop" 15 old_gone
	check "$name: nginx's upstream keep-alive connections to the old port $old_port are closed" wait_for "no pooled connection to $old_port" 5 bash -c "[ \$(ss -Htn state established '( dport = :$old_port )' | wc -l) = 0 ]"
	three_check "$name" "$name"
	check "$name: nginx was not reloaded (same workers)" test "$(workers)" = "$W0"
}

for v in v2 v3 v4; do
	echo $v > "$SRC/version.txt"; git_commit "$SRC" $v
	op "deploy $v" tctl deploy "$A"
	check "nginx serves $v" serves $v
done
new_port=$(sed -n 's/^.*server 127.0.0.1:\([0-9]*\);.*/\1/p' "$UP")
check "nginx keeps keep-alive connections to the live instance (port $new_port)" test "$(pooled "$new_port")" -gt 0
pid=$(json "$A" pid)
op "reload" tctl reload "$A"
check "reload: a new process serves" test "$(json "$A" pid)" != "$pid"
op "rollback" tctl rollback "$A"
check "rollback: nginx serves v3" serves v3

# Every worker sees the set (a shared dict): 40 requests, each on a
# connection of its own, spread over both workers, all from the live one.
live=$(json "$A" pid)
n=0
for i in $(seq 1 40); do
	curl -s --max-time 2 "http://127.0.0.1:$NGPORT/" | grep -q "pid $live\$" && n=$((n + 1))
done
check "40 requests on new connections: all answered by the live instance ($n)" test "$n" = 40

# Only root reaches the switch socket; on TCP the path is the app's.
live_port=$(sed -n 's/^.*server 127.0.0.1:\([0-9]*\);.*/\1/p' "$UP")
check "root reads the live set from the socket (port $live_port)" bash -c "curl -s --unix-socket '$SOCK' http://tend/tend/switch | grep -qE '^[0-9]+ $live_port\$'"
check "the app's user cannot connect to it" bash -c "! runuser -u '$APP_USER' -- curl -s --max-time 2 --unix-socket '$SOCK' http://tend/tend/switch"
check "a PUT through nginx's TCP port reaches the app, not the switch" bash -c "curl -s --max-time 2 -X PUT --data-binary '1 1' http://127.0.0.1:$NGPORT/tend/switch | grep -q '^hello v3 '"
out=$(curl -s --unix-socket "$SOCK" -X PUT --data-binary 'x y' http://tend/tend/switch)
check "a malformed set is refused (400), nothing changes" bash -c "grep -q expected <<<\"\$1\" && curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello v3 '" _ "$out"
out=$(curl -s --unix-socket "$SOCK" -X PUT --data-binary "1 $P" http://tend/tend/switch)
check "an older generation is refused (409)" grep -q 'a newer set is in place' <<<"$out"
check "nginx's error log has no upstream failure" bash -c "! grep -E 'upstream prematurely closed|connect\\(\\) failed|no live upstreams' '$T/nginx/error.log'"

# A tendd killed between writing the file and nginx's answer leaves nginx
# on the other set: played here by sending nginx the idle set directly.
# The next tendd tells nginx the set of its file.
other=$P; [ "$live_port" = "$P" ] && other=$((P + 100))
curl -s --unix-socket "$SOCK" -X PUT --data-binary "$(date +%s%3N) $other" http://tend/tend/switch >/dev/null
check "nginx now sends to the idle port $other (nothing serves there)" bash -c "! curl -sf --max-time 2 http://127.0.0.1:$NGPORT/ >/dev/null"
kill -KILL "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null
tendd_start || not_ok "tendd starts again"
check "the next tendd tells nginx its file's port ($live_port)" wait_for "the socket to hold $live_port" 10 bash -c "curl -s --unix-socket '$SOCK' http://tend/tend/switch | grep -qE '^[0-9]+ $live_port\$'"
check "and nginx serves v3 again" serves v3

# The clock was stepped back before a tendd started (a VM restored, a
# bad clock at boot corrected): the file and nginx's dict hold a
# generation ahead of the wall clock.  The next tendd's sets must still
# be newer, or nginx refuses every one (409) and no switch succeeds.
future=$(( $(date +%s%3N) + 86400000 ))
kill -KILL "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null
sed -i "s/local gen, ports = [0-9]*,/local gen, ports = $future,/" "$UP"
curl -s --unix-socket "$SOCK" -X PUT --data-binary "$future $live_port" http://tend/tend/switch >/dev/null
tendd_start || not_ok "tendd starts again"
newer() { [ "$(curl -s --unix-socket "$SOCK" http://tend/tend/switch | cut -d' ' -f1)" -gt "$future" ]; }
check "after a clock step back, the next tendd's set is newer than the file's" wait_for "a set newer than $future" 10 newer
wait_for "$A live" 30 state_is "$A" live
pid=$(json "$A" pid)
out=$(tctl reload "$A" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "and a reload switches nginx (exit 0, no 409)" bash -c "[ $rc = 0 ] && grep -q 'nginx switched, no reload' <<<\"\$1\"" _ "$out"
check "a new process serves" test "$(json "$A" pid)" != "$pid"
check "and nginx serves v3" serves v3
check "tendd is running" kill -0 "$TENDD_PID"
done_testing
