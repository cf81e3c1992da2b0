#!/usr/bin/env bash
# Deploys behind a real nginx: a release from a local git repository is
# built, started on the idle port set, gated on /health and switched to;
# under a bounded wrk load (loopback), a deploy, a reload and a rollback
# fail no request, while an in-place restart is shown for comparison.
. "$(dirname "$0")/../lib.sh"
SRC=$T/src
APPDIR=$T/srv/web
git_repo "$SRC"
cat > "$SRC/build.sh" <<'EOF'
echo "building $(cat version.txt)"
cp version.txt built.txt
EOF
git_commit "$SRC" "build script"
mkdir -p "$APPDIR/shared"
printf 'GREETING=hello\n' > "$APPDIR/shared/.env"
chmod 600 "$APPDIR/shared/.env"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
UP=$T/nginx/upstream-web.conf
mkdir -p "$T/nginx"
# nginx needs the upstream before it starts: tendd writes it.
nginx_conf() {
	tend_conf <<EOF
[app:web]
dir = $APPDIR
repo = $SRC
shared = .env
env_file = $APPDIR/shared/.env
build = sh build.sh && echo built-and-chained
command = $NODE server.js
port = $P
health = /health
ready_timeout = 20s
nginx_upstream = $UP
nginx_test = $NGINX_TEST
nginx_reload = $NGINX_RELOAD
drain_timeout = 1s
keep_releases = 2
EOF
}
NGINX_TEST=true NGINX_RELOAD=true nginx_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
check "before any deploy the app waits for a release" grep -q 'no release yet: tendctl deploy web' <<<"$(json web reason)"
check "and tendd wrote the upstream file for nginx" grep -q "server 127.0.0.1:$P;" "$UP"
nginx_start "$UP" web || { not_ok "nginx starts"; done_testing; }
nginx_conf
tctl reread >/dev/null
get() { curl -s --max-time 2 "http://127.0.0.1:$NGPORT/"; }
# nginx -s reload returns before nginx's new workers take over.
serves() { wait_for "nginx to serve $1" 5 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }

out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "the first deploy exits 0" test "$rc" = 0
check "it streamed its steps (clone, build output, health)" bash -c "grep -q 'cloning' <<<\"\$1\" && grep -q 'building v1' <<<\"\$1\" && grep -q 'healthy on port' <<<\"\$1\"" _ "$out"
check "the whole build chain ran (a && b)" grep -q '^built-and-chained$' <<<"$out"
check "nginx serves v1" serves v1
rel1=$(json web release)
check "status names the release ($rel1)" grep -qE '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}$' <<<"$rel1"
check "current points at it" test "$(readlink "$APPDIR/current")" = "$APPDIR/releases/$rel1"
check "the shared .env is linked into it" test "$(readlink "$APPDIR/releases/$rel1/.env")" = "$APPDIR/shared/.env"
check "the build ran in it" test "$(cat "$APPDIR/releases/$rel1/built.txt")" = v1

# v2 under load: zero failed requests.
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
load 8 "$T/wrk-deploy"
sleep 1
out=$(tctl deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
wait "$LOAD_PID"
read -r bad errs <<<"$(load_result "$T/wrk-deploy")"
echo "# deploy under load: $(load_requests "$T/wrk-deploy") requests, $bad non-2xx, $errs socket errors"
check "deploy of v2 exits 0" test "$rc" = 0
check "no failed request during the deploy ($bad non-2xx, $errs errors)" test "$bad" = 0 -a "$errs" = 0
check "nginx serves v2" serves v2
check "on the other port set" grep -q "server 127.0.0.1:$((P + 100));" "$UP"
rel2=$(json web release)
wait_for "old instance stopped" 10 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '.apps[0].pids | length')\" = 1 ]"
check "the old instance is stopped after drain_timeout" test "$(json web 'pids | length')" = 1
rels=$(tctl releases web --json)
check "releases lists v2 live and v1 ready, newest first" test "$(jq -r '[.releases[] | .status] | join(",")' <<<"$rels")" = "live,ready"
check "the live one is marked" test "$(jq -r '.releases[0].live' <<<"$rels")" = true
tctl releases web | sed 's/^/# /'

# reload: the same switch for the running release.
pid_before=$(json web pid)
load 6 "$T/wrk-reload"
sleep 1
out=$(tctl reload web 2>&1); rc=$?
wait "$LOAD_PID"
read -r bad errs <<<"$(load_result "$T/wrk-reload")"
echo "# reload under load: $(load_requests "$T/wrk-reload") requests, $bad non-2xx, $errs socket errors"
check "reload exits 0 once the new instance is healthy" test "$rc" = 0
check "no failed request during the reload ($bad non-2xx, $errs errors)" test "$bad" = 0 -a "$errs" = 0
check "a new process serves" test "$(json web pid)" != "$pid_before"
check "the same release" test "$(json web release)" = "$rel2"

# For comparison: restarting in place behind the same nginx.
load 6 "$T/wrk-restart"
sleep 1
tctl restart web >/dev/null
wait "$LOAD_PID"
read -r rbad rerrs <<<"$(load_result "$T/wrk-restart")"
echo "# in-place restart under load: $(load_requests "$T/wrk-restart") requests, $rbad non-2xx, $rerrs socket errors (what blue/green avoids)"
check "tendctl restart still brings it back" state_is web live

# Rollback to v1 under load.
load 8 "$T/wrk-rollback"
sleep 1
out=$(tctl rollback web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
wait "$LOAD_PID"
read -r bad errs <<<"$(load_result "$T/wrk-rollback")"
echo "# rollback under load: $(load_requests "$T/wrk-rollback") requests, $bad non-2xx, $errs socket errors"
check "rollback exits 0" test "$rc" = 0
check "it warns that database changes are not reverted" grep -q 'not reverted' <<<"$out"
check "no failed request during the rollback ($bad non-2xx, $errs errors)" test "$bad" = 0 -a "$errs" = 0
check "nginx serves v1 again" serves v1
check "v1 is live, v2 ready" test "$(tctl releases web --json | jq -r '[.releases[] | "\(.id)=\(.status)"] | join(",")')" = "$rel2=ready,$rel1=live"

# keep_releases = 2: a third and fourth release prune the oldest, never
# the live one or the rollback target.
for v in v3 v4; do
	echo $v > "$SRC/version.txt"; git_commit "$SRC" $v
	tctl deploy web >/dev/null 2>&1 || not_ok "deploy $v"
done
check "nginx serves v4" serves v4
# Old folders are removed by a job running as the app's user, after the
# deploy has answered.
nrel() { test "$(ls -d "$APPDIR"/releases/*/ | wc -l)" = 2; }
check "two release folders are kept" wait_for "pruning" 10 nrel
check "one of them is the rollback target (v3)" test "$(cat "$APPDIR/releases/$(tctl releases web --json | jq -r '[.releases[] | select(.status == "ready")][0].id')/version.txt")" = v3

# The same commit again at once: a release of its own, the live one kept.
tctl deploy web >/dev/null 2>&1; rc1=$?
tctl deploy web >/dev/null 2>&1; rc2=$?
check "the same commit deployed twice in a row: both exit 0" test "$rc1$rc2" = 00
check "current still points at a release that exists" test -f "$APPDIR/current/version.txt"
check "and v4 serves" serves v4

# Bad input never reaches git or the filesystem.
out=$(tctl deploy web -- --upload-pack=touch 2>&1); rc=$?
check "a ref that looks like an option is refused (exit 1)" bash -c "[ $rc = 1 ] && grep -q 'invalid ref' <<<\"\$1\"" _ "$out"
out=$(tctl rollback web ../../etc 2>&1); rc=$?
check "a release id with a path is refused (exit 1)" bash -c "[ $rc = 1 ] && grep -q 'invalid release id' <<<\"\$1\"" _ "$out"
out=$(tctl deploy web no-such-branch 2>&1); rc=$?
check "an unknown ref fails the build, saying so" bash -c "[ $rc = 1 ] && grep -q 'no-such-branch is not a branch, tag or commit' <<<\"\$1\"" _ "$out"
check "and v4 still serves" grep -q '^hello v4 ' <<<"$(get)"
done_testing
