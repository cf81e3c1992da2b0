#!/usr/bin/env bash
# nginx_switch = reload keeps the old way (nginx_test, nginx_reload) even
# where the lua switch could run; moving from it to the lua switch needs
# no step of the admin's (the first switch finds no socket and reloads
# nginx once, the next ones do not); what the lua switch needs is checked
# by tendd -t, and nginx_switch = lua without it is an error, at -t and
# at a deploy, which then changes nothing.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] ||
    { not_ok "libnginx-mod-http-lua is installed (./setup test installs it)"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/web
user_repo "$SRC"
mkdir -p "$T/srv"
app_tree "$APPDIR"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
UPDIR=$T/nginx/tend
install -d -o root -g root -m 700 "$UPDIR"
UP=$UPDIR/upstream-web.conf
SW="nginx_switch = reload"
conf() {
	tend_conf <<EOF
[app:web]
dir = $APPDIR
user = $APP_USER
repo = $SRC
shared = .env
env_file = $APPDIR/shared/.env
command = $NODE server.js
port = $P
health = /health
ready_timeout = 20s
nginx_upstream = $UP
nginx_test = ${NGINX_TEST:-true}
nginx_reload = ${NGINX_RELOAD:-true}
drain_timeout = 1s
$SW
EOF
}
conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1)
check "tendd -t: reload, because the config says so" grep -q '^web: nginx_switch reload: nginx_switch = reload$' <<<"$out"
tendd_start || { not_ok "tendd starts"; done_testing; }
check "the upstream file is the plain upstream block" bash -c "grep -q 'server 127.0.0.1:$P;' '$UP' && ! grep -q lua '$UP'"
nginx_start "$UP" web || { not_ok "nginx starts"; done_testing; }
conf
tctl reread >/dev/null
workers() { pgrep -P "$(cat "$T/nginx/nginx.pid")" | sort | tr '\n' ' '; }
serves() { wait_for "nginx to serve $1" 10 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }
check "the first deploy exits 0" tctl deploy web
check "nginx serves v1" serves v1

# A deploy under load, the old way: wrk with one request per connection
# fails nothing; the keep-alive clients' failures are nginx's reload's,
# shown for comparison (bench/run measures them).
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
w0=$(workers)
load 8 "$T/wrk-close"
wrk -t1 -c4 -d8s --timeout 3s "http://127.0.0.1:$NGPORT/" >"$T/wrk-ka" 2>&1 &
L2=$!
python3 "$SRCDIR/tests/ka-post.py" "$NGPORT" 8 8 >"$T/post" 2>&1 &
L3=$!
sleep 1
out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
wait "$LOAD_PID" "$L2" "$L3"
read -r bad errs <<<"$(load_result "$T/wrk-close")"
check "deploy v2 with nginx_switch = reload exits 0" test "$rc" = 0
check "it ran nginx_test and nginx_reload" bash -c "grep -q 'checking nginx: nginx -t' <<<\"\$1\" && grep -q 'reloading nginx: nginx -s reload' <<<\"\$1\"" _ "$out"
check "one request per connection: 0 failed ($bad non-2xx, $errs errors)" test "$bad" = 0 -a "$errs" = 0
read -r kbad kerrs <<<"$(load_result "$T/wrk-ka")"
echo "# for comparison, under nginx's reload: wrk keep-alive $kbad non-2xx, $kerrs socket errors of $(load_requests "$T/wrk-ka"); keep-alive POSTs: $(head -n 1 "$T/post")"
check "nginx serves v2" serves v2
check "nginx was reloaded (new workers)" test "$(workers)" != "$w0"
check "the old instance stops" wait_for "old instance" 10 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '.apps[0].pids | length')\" = 1 ]"

# From reload to lua: no nginx_switch line (auto).  The running nginx has
# not loaded the lua file, so the first switch reloads it once.
SW=
conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1)
check "tendd -t: lua, once nginx_switch = reload is gone" grep -q '^web: nginx_switch lua: ' <<<"$out"
tctl reread >/dev/null
for v in v3 v4; do
	echo $v > "$SRC/version.txt"; git_commit "$SRC" $v
	w0=$(workers)
	out=$(tctl deploy web 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	check "deploy $v exits 0" test "$rc" = 0
	check "nginx serves $v" serves $v
	check "the upstream file is in the lua form" grep -q balancer_by_lua_block "$UP"
	wait_for "old instance" 10 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '.apps[0].pids | length')\" = 1 ]"
	if [ $v = v3 ]; then
		check "v3: no switch socket yet: nginx reloaded instead" bash -c "grep -q 'nginx.s switch socket: connecting: .*reloading nginx instead' <<<\"\$1\" && grep -q 'reloading nginx: nginx -s reload' <<<\"\$1\"" _ "$out"
		check "v3: new nginx workers" test "$(workers)" != "$w0"
	else
		check "v4: switched over the socket, no reload" grep -q 'nginx switched, no reload' <<<"$out"
		check "v4: the same nginx workers" test "$(workers)" = "$w0"
	fi
done

# nginx_switch = lua where it cannot be: an error at tendd -t, naming
# the line; at a deploy, a failure that leaves v4 serving.
chmod 755 "$UPDIR"
SW="nginx_switch = lua"
conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "tendd -t: nginx_switch = lua on a directory others may enter is an error (exit 1)" bash -c "[ $rc = 1 ] && grep -qF '$T/tend.conf:' <<<\"\$1\" && grep -q 'nginx_switch = lua: $UPDIR is mode 0755' <<<\"\$1\"" _ "$out"
SW=
conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1)
check "tendd -t: auto there is reload, saying why" grep -q "^web: nginx_switch reload: $UPDIR is mode 0755, owner uid 0: nginx's switch socket there would be open to others" <<<"$out"
chmod 700 "$UPDIR"
SW="nginx_switch = lua"
conf
tctl reread >/dev/null
chmod 755 "$UPDIR"
before=$(cat "$UP")
echo v5 > "$SRC/version.txt"; git_commit "$SRC" v5
out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | tail -n 2 | sed 's/^/# /'
check "a deploy with nginx_switch = lua it cannot use fails (exit 1), saying why" bash -c "[ $rc = 1 ] && grep -q 'nginx_switch = lua: $UPDIR is mode 0755' <<<\"\$1\"" _ "$out"
check "the upstream file is unchanged" test "$(cat "$UP")" = "$before"
check "v4 still serves" serves v4
chmod 700 "$UPDIR"
SW="nginx_switch = fast"
conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
check "nginx_switch = fast: an error naming the line (exit 1)" bash -c "[ $rc = 1 ] && grep -qE 'tend.conf:[0-9]+: .*expected auto, lua or reload' <<<\"\$1\"" _ "$out"
done_testing
