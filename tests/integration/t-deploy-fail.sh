#!/usr/bin/env bash
# Deploys that fail, behind a real nginx: a failing build, a failing
# migration, a release whose /health never passes; a slow build canceled
# by a newer deploy; tendd killed with -9 in the middle of a deploy.  Each
# time the live release keeps answering and nginx's file is untouched.
. "$(dirname "$0")/../lib.sh"
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/web
git_repo "$SRC"
cat > "$SRC/build.sh" <<'EOF'
echo "building $(cat version.txt)"
if [ -f FAIL_BUILD ]; then echo "error: type check failed" >&2; exit 2; fi
if [ -f SLOW_BUILD ]; then sleep 29.5; fi
cp version.txt built.txt
EOF
cat > "$SRC/migrate.sh" <<'EOF'
if [ -f FAIL_MIGRATE ]; then echo "migration 42 failed: column exists" >&2; exit 4; fi
echo "migrated $(cat version.txt)"
EOF
cat > "$SRC/start.sh" <<'EOF'
[ -f NO_HEALTH ] && export HEALTH_HANG=1
[ -f SLOW_START ] && export BIND_DELAY_MS=30000
exec node server.js
EOF
git_commit "$SRC" "scripts"
mkdir -p "$APPDIR/shared" "$T/nginx"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
UP=$T/nginx/upstream-web.conf
nginx_conf() {
	tend_conf <<EOF
[app:web]
dir = $APPDIR
repo = $SRC
build = sh build.sh
migrate = sh migrate.sh
env = DATABASE_URL=postgres://app:apppass@127.0.0.1:$PGPORT/shop
backup_before_migrate = $T/backups
command = sh start.sh
port = $P
health = /health
ready_timeout = 3s
nginx_upstream = $UP
nginx_test = $NGINX_TEST
nginx_reload = $NGINX_RELOAD
drain_timeout = 500ms
kill_timeout = 2s
EOF
}
NGINX_TEST=true NGINX_RELOAD=true nginx_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
nginx_start "$UP" web || { not_ok "nginx starts"; done_testing; }
nginx_conf
tctl reread >/dev/null
serves() { wait_for "nginx to serve $1" 5 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }
status_of() { tctl releases web --json | jq -r ".releases[$1].status"; }
reason_of() { tctl releases web --json | jq -r ".releases[$1].reason"; }
tctl deploy web >/dev/null 2>&1 || not_ok "the first deploy"
check "v1 is live" serves v1
sum=$(md5sum <"$UP")

# A build that fails.
echo v2 > "$SRC/version.txt"; touch "$SRC/FAIL_BUILD"; git_commit "$SRC" "v2 broken build"
out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a failing build: deploy exits 1" test "$rc" = 1
check "status build-failed" test "$(status_of 0)" = build-failed
check "the reason has the build's last lines" grep -q 'build `sh build.sh` exited with code 2: .*type check failed' <<<"$(reason_of 0)"
check "its folder is gone" test "$(ls "$APPDIR/releases" | grep -vc '\.log$')" = 1
check "nginx's file is unchanged" test "$(md5sum <"$UP")" = "$sum"
check "v1 still answers" serves v1

# A migration that fails.
rm "$SRC/FAIL_BUILD"; touch "$SRC/FAIL_MIGRATE"; git_commit "$SRC" "v2 broken migration"
out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a failing migration: deploy exits 1" test "$rc" = 1
check "status deploy-failed" test "$(status_of 0)" = deploy-failed
check "the reason names the migration and its output" grep -q 'migration failed: `sh migrate.sh` exited with code 4.*migration 42 failed' <<<"$(reason_of 0)"
check "nginx's file is unchanged" test "$(md5sum <"$UP")" = "$sum"
check "v1 still answers" serves v1
dump=$(tctl releases web --json | jq -r '.releases[0].backup.file')
check "the database was dumped before the migration ($dump)" test -s "$dump"
check "tendctl releases says how to restore it" bash -c "'$TENDCTL' -c '$T/tend.conf' releases web | grep -q 'restore with: pg_restore .* -d shop $dump'"
wait_for "one instance" 5 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '.apps[0].pids | length')\" = 1 ]"
check "nothing of the new release runs" test "$(json web 'pids | length')" = 1
check "the app is still live" state_is web live

# A release whose /health never passes.
rm "$SRC/FAIL_MIGRATE"; touch "$SRC/NO_HEALTH"; git_commit "$SRC" "v2 never healthy"
out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a release that never gets healthy: deploy exits 1" test "$rc" = 1
check "status deploy-failed" test "$(status_of 0)" = deploy-failed
check "the reason says it was not ready in time" grep -q 'not ready after 3s' <<<"$(reason_of 0)"
check "nginx's file is unchanged" test "$(md5sum <"$UP")" = "$sum"
check "v1 still answers" serves v1
wait_for "one instance" 10 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '.apps[0].pids | length')\" = 1 ]"
check "its instance was stopped" test "$(json web 'pids | length')" = 1

# A slow build, canceled by a newer deploy.
rm "$SRC/NO_HEALTH"; touch "$SRC/SLOW_BUILD"; git_commit "$SRC" "v2 slow build"
tctl deploy web >"$T/slow.out" 2>&1 &
slow=$!
wait_for "the slow build" 10 pgrep -f '^sleep 29.5'
rm "$SRC/SLOW_BUILD"; git_commit "$SRC" "v2"
out=$(tctl deploy web 2>&1); rc=$?
wait "$slow"; src=$?
sed 's/^/# slow: /' "$T/slow.out"
check "the newer deploy goes live (exit 0)" test "$rc" = 0
check "the canceled one exits 1" test "$src" = 1
check "and is recorded build-canceled" test "$(status_of 1)" = build-canceled
check "its build's processes are gone" bash -c "! pgrep -f '^sleep 29.5'"
check "v2 serves" serves v2
sum=$(md5sum <"$UP")
live=$(json web release)

# kill -9 of tendd while a deploy is starting its release.
echo v3 > "$SRC/version.txt"; touch "$SRC/SLOW_START"; git_commit "$SRC" "v3 slow start"
sed -i 's/^ready_timeout = 3s/ready_timeout = 60s/' "$T/tend.conf"
tctl reread >/dev/null
wait_for "web live after reread" 10 state_is web live
tctl deploy web >/dev/null 2>&1 &
wait_for "deploying with two instances" 20 bash -c "[ \"\$($TENDCTL -c $T/tend.conf releases web --json | jq -r '.releases[0].status')\" = deploying ] && [ \"\$($TENDCTL -c $T/tend.conf status --json | jq '.apps[0].pids | length')\" = 2 ]"
check "the deploy is starting the new release" test "$(status_of 0)" = deploying
kill -9 "$TENDD_PID"
wait "$TENDD_PID" 2>/dev/null
check "the history survives kill -9 and is valid JSON" jq -e 'length > 0' "$T/state/web.deploys.json"
tendd_start || { not_ok "tendd restarts"; done_testing; }
check "the interrupted deploy is deploy-failed after the restart" test "$(status_of 0)" = deploy-failed
check "saying it was interrupted" grep -q 'interrupted' <<<"$(reason_of 0)"
wait_for "web live again" 20 state_is web live
check "the previous release is live again" test "$(json web release)" = "$live"
check "nginx's file is unchanged" test "$(md5sum <"$UP")" = "$sum"
check "and v2 answers through nginx" serves v2
ours() { grep -l "TEND_SUPERVISOR=$T/tend.sock" /proc/[0-9]*/environ 2>/dev/null | wc -l; }
check "no orphan: one process of the app's runs (its live instance)" test "$(ours)" = 1
done_testing
