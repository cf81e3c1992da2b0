#!/usr/bin/env bash
# timeout: 600
# deploy APP --fleet: three hosts, each a network namespace the test
# makes on a bridge of its own (10.213.0.0/24, host i at 10.213.0.1i),
# each with its own tendd, app dir, ports and real nginx (one app user),
# on one PostgreSQL, which they reach over the bridge at 10.213.0.1, and
# one git repository; an edge nginx on loopback in front of the three
# hosts' nginx, which it reaches at their addresses.  One deploy from h1
# builds on every host, migrates once (a counter table the app's
# migration writes), switches the hosts one batch at a time (their
# histories' switch times are in order), and ends with every host on
# the same sha; a second one, under load through the edge, fails no
# request.  Then failures: a release broken on h3, and h3 killed
# mid-deploy with on_lost = stop and = skip.  A second fleet deploy while one
# runs is refused with who holds it.  A release whose health fails on
# h3 stops the rollout: h1 and h2, already switched, go back to the
# previous release, and the deploy ends deploy-failed naming h3.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/fleet-lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
command -v jq >/dev/null || { not_ok "jq is installed"; done_testing; }
fleet_net 3 || { not_ok "the bridge and three namespaces are made"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
pg_bridge_opts
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
fleet_db || { not_ok "the fleet database is made"; done_testing; }
pg_on_bridge || { not_ok "PostgreSQL listens on the bridge"; done_testing; }
SRC=$T/src
user_repo "$SRC"
cp "$SRCDIR/tests/app/migrate.sh" "$SRC/migrate.sh"
# A release with a file break-on naming this host never gets healthy here.
printf '%s\n' 'if [ -f break-on ] && [ "$(cat break-on)" = "$FLEET_HOST" ]; then exec sleep 1000; fi' \
    'exec node server.js' > "$SRC/start.sh"
git_commit "$SRC" "start and migration"
chmod -R a+rX "$SRC"

# The hosts reach the databases over the bridge.
DB="postgresql://app:apppass@$NET.1:$PGPORT/shop"
NSFLEET="postgresql://tend:$FLEET_PW@$NET.1:$PGPORT/fleet"
hns() { echo "${NS[${1#h}]}"; }	# hns NAME: host hI's namespace
haddr() { echo "$NET.$((10 + ${1#h}))"; }	# haddr NAME: its address
fhost() {	# fhost NAME: a host running web from the repository
	local n=$1 d=$T/$1
	free_port > "$d.port"
	mkdir -p "$d/nginx"
	app_tree "$d/srv"
	fconf "$n" true true
	host_run "$n" "$(hns "$n")" || return 1
	# nginx needs the upstream file tendd writes.  It listens on the
	# host's address, where the edge reaches it.
	T=$d NGINX_NETNS=$(hns "$n") NGINX_ADDR=$(haddr "$n") \
	    nginx_start "$d/nginx/web.conf" web || return 1
	echo "$NGPORT" > "$d/ngport"
	fconf "$n" "$NGINX_TEST" "$NGINX_RELOAD"
	hctl "$n" reread >/dev/null
}
fconf() {	# fconf NAME NGINX_TEST NGINX_RELOAD
	local n=$1 d=$T/$1
	{
		printf '[tend]\nsocket = %s/tend.sock\nstate_dir = %s/state\nlog_dir = %s/log\n\n' "$d" "$d" "$d"
		FLEET_URL=$NSFLEET fleet_section "$n"
		printf 'batch = 1\nwatch = 2s\n\n'
		printf '[app:web]\ndir = %s/srv\nuser = %s\nrepo = %s\nshared = .env\nenv_file = %s/srv/shared/.env\n' \
		    "$d" "$APP_USER" "$SRC" "$d"
		printf 'env = DATABASE_URL=%s\nenv = MIGRATE_TAG=%s\nenv = FLEET_HOST=%s\n' "$DB" "$n" "$n"
		printf 'command = sh start.sh\nmigrate = sh migrate.sh\nport = %s\nhealth = /health\nready_timeout = 8s\n' "$(cat "$d.port")"
		printf 'nginx_upstream = %s/nginx/web.conf\nnginx_test = %s\nnginx_reload = %s\ndrain_timeout = 1s\n' "$d" "$2" "$3"
	} > "$d/tend.conf.new" && mv "$d/tend.conf.new" "$d/tend.conf"
}
for h in h1 h2 h3; do fhost $h || { not_ok "host $h starts with its nginx"; done_testing; }; done
# The edge: nginx in front of the three hosts' nginx (the user's part).
mkdir -p "$T/edge"
printf 'upstream tend_edge {\n' > "$T/edge/up.conf"
for h in h1 h2 h3; do printf '\tserver %s:%s;\n' "$(haddr $h)" "$(cat "$T/$h/ngport")" >> "$T/edge/up.conf"; done
printf '}\n' >> "$T/edge/up.conf"
T=$T/edge nginx_start "$T/edge/up.conf" edge || { not_ok "the edge nginx starts"; done_testing; }
three() { [ "$(hctl h1 status --fleet --json | jq '[.hosts[] | select(.apps.web and (.lost | not))] | length')" = 3 ]; }
check "h1 sees three hosts" wait_for "three hosts" 20 three
for h in h1 h3; do
	check "$h's tend-fleet reaches the database at $NET.1, not loopback" \
	    bash -c 'ip netns exec "$1" ss -tnp | grep "tend-fleet" | grep -q "$2:$3"' _ "$(hns $h)" "$NET.1" "$PGPORT"
done

out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" deploy web --fleet 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# h1: /'
check "deploy web --fleet exits 0" test "$rc" = 0
sha=$(git -C "$SRC" rev-parse HEAD)
on_sha() { [ "$(hctl "$1" releases web --json | jq -r '.releases[] | select(.live) | .sha')" = "$2" ]; }
for h in h1 h2 h3; do check "$h runs $sha" on_sha $h "$sha"; done
mig=$($PSQL -d shop -At -c "SELECT count(*) FROM migrations")
check "the migration ran once in the fleet ($mig row)" test "$mig" = 1
check "recorded for the sha in tend.migration" test "$($FQ -c "SELECT count(*) FROM tend.migration WHERE sha = '$sha' AND done")" = 1
sw() { hctl "$1" releases web --json | jq -r '.releases[] | select(.live) | .finished_at'; }
t1=$(sw h1) t2=$(sw h2) t3=$(sw h3)
echo "# switch times: h1 $t1, h2 $t2, h3 $t3"
check "hosts switched one batch at a time (h1 < h2 < h3)" bash -c '[[ "$1" < "$2" && "$2" < "$3" ]]' _ "$t1" "$t2" "$t3"
check "the deploy's progress named each host's turn" bash -c 'grep -q "h2: go" <<<"$1" && grep -q "h3: go" <<<"$1"' _ "$out"

# v2 under load through the edge.
echo v2 > "$SRC/version.txt"
git_commit "$SRC" v2
chmod -R a+rX "$SRC"
edge_v1() { curl -fsS --max-time 2 "127.0.0.1:$NGPORT/" | grep -q '^hello v1 '; }
check "the edge serves v1 from the hosts" wait_for "edge v1" 10 edge_v1
load 40 "$T/wrk.out"
out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" deploy web --fleet 2>&1); rc=$?
check "deploy v2 --fleet under load exits 0" test "$rc" = 0
wait "$LOAD_PID"
read -r non2xx errs <<<"$(load_result "$T/wrk.out")"
n=$(load_requests "$T/wrk.out")
check "0 failed requests through the edge during it ($n requests, $non2xx non-2xx, $errs socket errors)" \
    test "${n:-0}" -gt 100 -a "$non2xx" = 0 -a "$errs" = 0
sha=$(git -C "$SRC" rev-parse HEAD)
for h in h1 h2 h3; do check "$h runs v2 ($sha)" on_sha $h "$sha"; done
check "one migration per sha: 2 rows" test "$($PSQL -d shop -At -c "SELECT count(*) FROM migrations")" = 2
edge_v2() { [ "$(for i in 1 2 3 4 5 6; do curl -fsS --max-time 2 "127.0.0.1:$NGPORT/"; done | grep -c '^hello v2 ')" = 6 ]; }
check "the edge serves v2 only" wait_for "edge v2" 10 edge_v2

# A release that fails its health on h3.
echo h3 > "$SRC/break-on"
echo v3 > "$SRC/version.txt"
git_commit "$SRC" "v3, broken on h3"
chmod -R a+rX "$SRC"
hctl h1 deploy web --fleet > "$T/d2.out" 2>&1 &
D2=$!
held() { [ "$(hctl h2 status --fleet --json | jq -r '.deploy.held')" = true ]; }
wait_for "the second deploy holds the lease" 20 held
out=$(hctl h2 deploy web --fleet 2>&1); rc=$?
check "a second fleet deploy is refused (exit $rc), naming the holder and since when" \
    bash -c '[ "$1" = 1 ] && grep -q "held by h1 since 20" <<<"$2"' _ "$rc" "$out"
# --wait queues behind it (and deploys the same broken release after).
hctl h2 deploy web --fleet --wait > "$T/dw.out" 2>&1 &
DW=$!
wait "$D2"; rc=$?
sed 's/^/# h1: /' "$T/d2.out"
check "the broken rollout fails (exit $rc)" test "$rc" = 1
check "naming h3" grep -q "h3:" "$T/d2.out"
wait "$DW"; rc=$?
sed 's/^/# h2: /' "$T/dw.out"
check "deploy --fleet --wait waited, saying for whom" grep -q "waiting: a fleet deploy of web is running: held by h1 since" "$T/dw.out"
check "then took the lease and ran (failing on h3 too: exit $rc)" bash -c 'grep -q "fleet lease taken" "$1" && grep -q "h3:" "$1" && [ "$2" = 1 ]' _ "$T/dw.out" "$rc"
for h in h1 h2 h3; do check "$h is back on (or never left) $sha" wait_for "$h on old" 30 on_sha $h "$sha"; done
failed_h3() { hctl h1 status --fleet --json | jq -e '.deploy.state == "failed" and (.deploy.detail | startswith("h3:"))'; }
check "the lease says failed, naming h3" failed_h3

# A host that dies mid-deploy: h3's tendd is killed once h1 switched.
# With on_lost = stop (the default) the rollout stops when h3's heartbeat
# is older than the lease, and the switched hosts go back.
rm "$SRC/break-on"
echo v4 > "$SRC/version.txt"
git_commit "$SRC" v4
chmod -R a+rX "$SRC"
sed -i 's/^watch = 2s$/watch = 6s/' "$T/h1/tend.conf"
hctl h1 reread >/dev/null
hctl h1 deploy web --fleet > "$T/d4.out" 2>&1 &
D4=$!
wait_for "h1 switched" 60 grep -q "batch live" "$T/d4.out"
host_kill h3
wait "$D4"; rc=$?
sed 's/^/# h1: /' "$T/d4.out"
check "a host lost mid-deploy stops it (exit $rc)" test "$rc" = 1
check "naming h3 as lost" grep -q "h3: lost" "$T/d4.out"
for h in h1 h2; do check "$h is back on v2" wait_for "$h on v2" 30 on_sha $h "$sha"; done

# on_lost = skip: the rollout goes on without the lost host.
host_run h3 "$(hns h3)" || not_ok "h3 starts again"
h3_back() { [ "$(hctl h1 status --fleet --json | jq -r '.hosts[] | select(.host == "h3") | .lost')" = false ]; }
check "h3 is back in the fleet" wait_for "h3 back" 20 h3_back
check "h3 comes back running what it ran (v2)" wait_for "h3 live v2" 30 on_sha h3 "$sha"
sed -i 's/^watch = 6s$/watch = 6s\non_lost = skip/' "$T/h1/tend.conf"
hctl h1 reread >/dev/null
hctl h1 deploy web --fleet > "$T/d5.out" 2>&1 &
D5=$!
wait_for "h1 switched" 60 grep -q "batch live" "$T/d5.out"
host_kill h3
wait "$D5"; rc=$?
sed 's/^/# h1: /' "$T/d5.out"
sha4=$(git -C "$SRC" rev-parse HEAD)
check "with on_lost = skip the rollout goes on (exit $rc)" test "$rc" = 0
check "saying h3 was skipped" grep -q "h3: lost.*skipped" "$T/d5.out"
for h in h1 h2; do check "$h runs v4" on_sha $h "$sha4"; done
check "tend.fleet_release records v4 as web's fleet release" \
    test "$($FQ -c "SELECT sha FROM tend.fleet_release WHERE app = 'web'")" = "$sha4"
# h3 was skipped: started again, it converges to the fleet's release,
# without running its migration again.
m0=$($PSQL -d shop -At -c "SELECT count(*) FROM migrations")
host_run h3 "$(hns h3)" || not_ok "h3 starts again"
check "h3, back, deploys the fleet's release v4 by itself" wait_for "h3 on v4" 90 on_sha h3 "$sha4"
check "its log says why" grep -q "the fleet's last deploy left it on $sha4" "$T/h3/tendd.log"
check "its migration did not run again ($m0 rows)" test "$($PSQL -d shop -At -c "SELECT count(*) FROM migrations")" = "$m0"
check "h3 serves v4" wait_for "h3 serves v4" 10 bash -c 'curl -fsS --max-time 2 "$1:$2/" | grep -q "^hello v4 "' _ "$(haddr h3)" "$(cat "$T/h3/ngport")"

# rollback --fleet: the fleet goes back to h1's ready release (v2),
# built again on each host; its migration is not run again.
m0=$($PSQL -d shop -At -c "SELECT count(*) FROM migrations")
out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" rollback web --fleet 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# h1: /'
check "rollback web --fleet exits 0" test "$rc" = 0
for h in h1 h2; do check "$h runs v2 again" on_sha $h "$sha"; done
m1=$($PSQL -d shop -At -c "SELECT count(*) FROM migrations")
check "no migration ran for it ($m0 rows before, $m1 after)" test "$m0" = "$m1"
done_testing
