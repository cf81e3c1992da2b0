#!/usr/bin/env bash
# tendd under valgrind memcheck through a whole scenario (start, health,
# crash-restart, restart, reread with a change, deploys with a build and
# a migration, reload, rollback, a failed build, stop, shutdown): no
# invalid read or write, 0 bytes definitely lost.
. "$(dirname "$0")/../lib.sh"
command -v valgrind >/dev/null || { echo "skip - valgrind is not installed"; done_testing; }
if [ -n "${ASAN_OPTIONS:-}" ] || nm "$TENDD" 2>/dev/null | grep -q __asan_init; then
	echo "skip - tendd is built with sanitizers (valgrind cannot run it)"
	done_testing
fi
P=$(free_port); Q=$(free_port); R=$(free_port)
RESERVED_PORTS="$R $((R + 100))"
git_repo "$T/src"
printf 'cp version.txt built.txt\n' > "$T/src/build.sh"
git_commit "$T/src" build
conf() {
	tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
health = /health
health_interval = 500ms
env = VERSION=$1

[app:worker]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $Q
min_ready = 300ms

[app:site]
dir = $T/srv/site
repo = $T/src
build = sh build.sh
migrate = echo migrating
command = $NODE server.js
port = $R
health = /health
nginx_upstream = $T/upstream.conf
nginx_test = true
nginx_reload = true
drain_timeout = 200ms
EOF2
}
conf one
valgrind --quiet --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --error-exitcode=99 \
    --log-file="$T/vg.log" "$TENDD" -f -c "$T/tend.conf" >>"$T/tendd.log" 2>&1 &
TENDD_PID=$!
check "tendd under valgrind answers" wait_for "answer" 60 tctl status
check "deploy (build, migration, first start)" tctl deploy site
echo v2 > "$T/src/version.txt"; git_commit "$T/src" v2
check "deploy v2 beside it and switch" tctl deploy site
check "reload" tctl reload site
check "rollback" tctl rollback site
touch "$T/src/FAIL"; printf 'exit 3\n' > "$T/src/build.sh"; git_commit "$T/src" broken
check "a failing build fails the deploy" bash -c "! '$TENDCTL' -c '$T/tend.conf' deploy site"
check "releases" tctl releases site
check "all three live" wait_for live 60 bash -c "[ \$(\"$TENDCTL\" -c $T/tend.conf status --json | jq '[.apps[] | select(.state == \"live\")] | length') = 3 ]"
pid=$(json web pid)
curl -s "127.0.0.1:$P/crash" >/dev/null
newpid() { p=$(json web pid); [ "$p" != null ] && [ "$p" != "$pid" ] && state_is web live; }
check "crash -> restarted" wait_for restart 60 newpid
check "restart worker" tctl restart worker
tctl logs web -n 5 >/dev/null
conf two
check "reread with a change" tctl reread
check "web restarted with the new settings" wait_for "version two" 60 bash -c "curl -s 127.0.0.1:$P/ | grep -q 'hello two'"
check "stop all" tctl stop all
kill -TERM "$TENDD_PID"; wait "$TENDD_PID"; rc=$?; TENDD_PID=
check "tendd exits 0 under valgrind (99 = memcheck errors)" test "$rc" = 0
check "no memcheck error" bash -c "! grep -q 'Invalid \(read\|write\)\|uninitialised' $T/vg.log"
check "0 bytes definitely lost" bash -c "! grep -q 'definitely lost' $T/vg.log"
[ -s "$T/vg.log" ] && sed -n '1,30p' "$T/vg.log" | sed 's/^/# /'
done_testing
