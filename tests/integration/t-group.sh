#!/usr/bin/env bash
# A release group, as Medusa runs in production: a server (the leader,
# behind a real nginx) and a worker (follows = the server) of one build,
# owned by a real unprivileged user.  One deploy moves both: under a
# bounded wrk load (loopback) no request fails, the worker's old and new
# job loops never overlap, both end on the new release; a release on
# which the worker crashes takes the whole group back while the old one
# serves throughout; rollback moves both; a worker defined before any
# release waits, then starts with the first deploy.
. "$(dirname "$0")/../lib.sh"
app_user || { not_ok "app user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/shop
user_repo "$SRC"
mkdir -p "$APPDIR/shared"
printf 'GREETING=hello\n' > "$APPDIR/shared/.env"
chmod 600 "$APPDIR/shared/.env"
chown -R "$APP_USER:" "$APPDIR"
JOBS=$T/jobs.log
touch "$JOBS" && chown "$APP_USER:" "$JOBS"
P=$(free_port)
W=$(free_port)
RESERVED_PORTS="$P $((P + 100)) $W"
UP=$T/nginx/upstream-server.conf
mkdir -p "$T/nginx"
# t-switch-group.sh: the same with nginx_switch = lua, which needs the
# upstream file in a directory only root may enter.
if [ "${GROUP_SWITCH:-}" = lua ]; then
	install -d -m 700 "$T/nginx/tend"
	UP=$T/nginx/tend/upstream-server.conf
fi
group_conf() {
	tend_conf <<EOF
[app:server]
dir = $APPDIR
repo = $SRC
user = $APP_USER
shared = .env
env_file = $APPDIR/shared/.env
env = MEDUSA_WORKER_MODE=server
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
env = MEDUSA_WORKER_MODE=worker
env = JOB_LOG=$JOBS
env = CRASH_IF_FILE=crash-worker
command = $NODE server.js
port = $W
health = /health
ready_timeout = 20s
restart_delay = 100ms
start_limit = 2
EOF
}
NGINX_TEST=true NGINX_RELOAD=true group_conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1)
check "tendd -t accepts a follower before any release ($out)" test $? = 0
tendd_start || { not_ok "tendd starts"; done_testing; }
check "before any deploy the worker waits for a release" grep -q 'no release yet: tendctl deploy server' <<<"$(json worker reason)"
check "the worker is stopped, not failed" state_is worker stopped
out=$(tctl deploy worker 2>&1); rc=$?
check "deploying the follower itself is refused, naming its leader" bash -c "test $rc = 1 && grep -q 'follows server' <<<\"\$1\"" _ "$out"
nginx_start "$UP" server || { not_ok "nginx starts"; done_testing; }
group_conf
tctl reread >/dev/null
serves() { wait_for "nginx to serve $1" 5 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }
worker_runs() { curl -s --max-time 2 "http://127.0.0.1:$W/" | grep -q "^hello $1 "; }

out=$(tctl deploy server 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "the first deploy exits 0" test "$rc" = 0
check "nginx serves v1" serves v1
check "the worker started with the first deploy, on v1" wait_for "worker v1" 10 worker_runs v1
rel1=$(json server release)
check "both members run release $rel1" test "$(json worker release)" = "$rel1"
check "the worker runs as the app's user" test "$(stat -c %U /proc/"$(json worker pid)")" = "$APP_USER"
check "the worker never enters nginx's upstream" bash -c "! grep -q ':$W;' '$UP'"

# v2 under load: both move, no request fails, job loops never overlap.
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
load 8 "$T/wrk-deploy.txt"
out=$(tctl deploy server 2>&1); rc=$?
wait "$LOAD_PID"
printf '%s\n' "$out" | sed 's/^/# /'
check "the group deploy exits 0 once every member runs v2" test "$rc" = 0
read -r bad errs <<<"$(load_result "$T/wrk-deploy.txt")"
check "no failed request during the group deploy ($bad non-2xx, $errs errors of $(load_requests "$T/wrk-deploy.txt"))" test "$bad" = 0 -a "$errs" = 0
check "nginx serves v2" serves v2
[ "${GROUP_SWITCH:-}" = lua ] && check "the leader's switch alone changed nginx, without a reload" bash -c "[ \$(grep -c 'nginx switched, no reload' <<<\"\$1\") = 1 ]" _ "$out"
rel2=$(json server release)
check "the worker runs v2 ($rel2) when deploy returns" test "$(json worker release)" = "$rel2"
check "and answers as v2" worker_runs v2
check "releases shows the release each member runs" grep -q "worker.*$rel2" <<<"$(tctl releases server)"

# Intervals of the job loops: each stop before the next start.
overlap() {
	awk '$1 == "start" { if (open) bad = 1; open = 1 }
	     $1 == "stop" { open = 0 }
	     END { exit bad ? 0 : 1 }' "$JOBS"
}
sed 's/^/# jobs: /' "$JOBS"
check "the worker's old and new job loops never overlapped" bash -c "$(declare -f overlap); ! overlap"
check "the job log has the v1 and v2 loops" bash -c "grep -q '^start .* v1$' '$JOBS' && grep -q '^stop .* v1$' '$JOBS' && grep -q '^start .* v2$' '$JOBS'"

# v3 breaks the worker: the whole group goes back to v2.
echo v3 > "$SRC/version.txt"; touch "$SRC/crash-worker"; git_commit "$SRC" v3
load 10 "$T/wrk-fail.txt"
out=$(tctl deploy server 2>&1); rc=$?
wait "$LOAD_PID"
printf '%s\n' "$out" | sed 's/^/# /'
check "a deploy whose follower crashes exits 1" test "$rc" = 1
check "naming the member" grep -q 'worker' <<<"$out"
read -r bad errs <<<"$(load_result "$T/wrk-fail.txt")"
check "no failed request while the group went back ($bad non-2xx, $errs errors)" test "$bad" = 0 -a "$errs" = 0
check "nginx serves v2 again" serves v2
[ "${GROUP_SWITCH:-}" = lua ] && check "nginx went back to v2's ports without a reload" grep -q "nginx back to the previous release's ports (no reload)" <<<"$out"
check "the server's live release is v2" test "$(json server release)" = "$rel2"
check "the worker is back on v2" wait_for "worker back on v2" 15 worker_runs v2
check "and live" wait_for "worker live" 10 state_is worker live
check "the failed release is deploy-failed in the history" test "$(tctl releases server --json | jq -r '.releases[0].status')" = deploy-failed

# Rollback moves both to v1.
git -C "$SRC" rm -q crash-worker; echo v4 > "$SRC/version.txt"; git_commit "$SRC" v4
out=$(tctl rollback server "$rel1" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "rollback exits 0" test "$rc" = 0
check "nginx serves v1" serves v1
check "the worker runs v1 too" test "$(json worker release)" = "$rel1"
check "and answers as v1" wait_for "worker v1" 10 worker_runs v1
check "the job loops never overlapped, over every move" bash -c "$(declare -f overlap); ! overlap"
check "every file in the app's tree is the app user's" test -z "$(find "$APPDIR" ! -user "$APP_USER" | head -n 3)"
done_testing
