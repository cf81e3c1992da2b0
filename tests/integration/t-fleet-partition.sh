#!/usr/bin/env bash
# [fleet] across a network: two hosts, each a network namespace made by
# the test on a bridge of its own (10.213.0.0/24), each with its own
# tendd and Node server, one PostgreSQL reached over the bridge.  One
# host's link is cut: the other sees it LOST once its lease ran out,
# while it keeps serving and answering plain status; its status --fleet
# fails naming the database.  Its link comes back: it beats again.
# A lease holder partitioned past its lease is replaced, and once its
# link is back its generation can no longer write or renew.  Then both
# hosts run web from a git repository: a fleet deploy while h2 is cut
# off goes on without it (on_lost = skip), and once its link is back h2
# deploys the fleet's release by itself.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/fleet-lib.sh"
command -v jq >/dev/null || { not_ok "jq is installed"; done_testing; }
fleet_net 2 || { not_ok "the bridge and two namespaces are made"; done_testing; }
pg_bridge_opts
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
fleet_db || { not_ok "the fleet database is made"; done_testing; }
pg_on_bridge || { not_ok "PostgreSQL listens on the bridge"; done_testing; }

P1=$(free_port) P2=$(free_port)
ns_host_start 1 h1 "$P1" || { not_ok "host h1 starts in its namespace"; done_testing; }
ns_host_start 2 h2 "$P2" || { not_ok "host h2 starts in its namespace"; done_testing; }
fj() { hctl "$1" status --fleet --json | jq -r "$2"; }
both() { [ "$(fj h1 '[.hosts[] | select(.apps.web.state == "live" and (.lost | not))] | length')" = 2 ]; }
check "h1 sees both hosts live over the bridge" wait_for "both hosts" 30 both
check "h2's tend-fleet reaches the database at $NET.1, not loopback" \
    bash -c 'ip netns exec "$1" ss -tnp | grep "tend-fleet" | grep -q "$2:$3"' _ "${NS[2]}" "$NET.1" "$PGPORT"

# Cut h2 off.
ip link set "${VETH[2]}" down
t0=$(now_ms)
h2_lost() { [ "$(fj h1 '.hosts[] | select(.host == "h2") | .lost')" = true ]; }
check "h1 marks h2 lost" wait_for "h2 lost" 20 h2_lost
dt=$(( $(now_ms) - t0 ))
check "once its lease (3 s) ran out (${dt} ms)" test "$dt" -ge 2000
check "h2 keeps serving what it runs" ip netns exec "${NS[2]}" curl -fsS --max-time 2 "127.0.0.1:$P2/health"
check "h2's app is still live" test "$(hctl h2 status --json | jq -r '.apps[0].state')" = live
h2_down() {
	out=$(hctl h2 status --fleet 2>&1)
	[ $? = 1 ] && grep -q "$NET.1:$PGPORT" <<<"$out"
}
check "h2's status --fleet fails, naming the database it cannot reach" wait_for "h2 down" 30 h2_down
t0=$(now_ms); hctl h2 status >/dev/null; dt=$(( $(now_ms) - t0 ))
check "h2's plain status still answers at once (${dt} ms)" test "$dt" -lt 1000

# Link back: it beats again.
ip link set "${VETH[2]}" up
h2_back() { [ "$(fj h1 '.hosts[] | select(.host == "h2") | .lost')" = false ]; }
check "h2 comes back: not lost any more" wait_for "h2 back" 40 h2_back
check "and its own status --fleet works again" wait_for "h2 fleet" 20 hctl h2 status --fleet

both_seen() { [ "$(fj h1 '[.hosts[] | select((.host == "h1" or .host == "h2") and (.lost | not))] | length')" = 2 ]; }
# A lease holder partitioned past its lease.
NSURL="postgresql://tend:$FLEET_PW@$NET.1:$PGPORT/fleet"
FLEET_URL=$NSURL helper_open HP p ip netns exec "${NS[2]}" || not_ok "a tend-fleet in h2's namespace connects"
FLEET_URL=$NSURL helper_open HQ q ip netns exec "${NS[1]}" || not_ok "a tend-fleet in h1's namespace connects"
ask HP '{"id":1,"op":"acquire","app":"web","kind":"deploy","ref":"main"}'
gp=$(jq -r .generation <<<"$REPLY")
check "p (in h2's namespace) takes the lease, generation $gp" test "$(jq -r .ok <<<"$REPLY")" = 1
ip link set "${VETH[2]}" down
t0=$(now_ms)
q_took() { ask HQ '{"id":2,"op":"acquire","app":"web","kind":"deploy","ref":"v2"}' && [ "$(jq -r .ok <<<"$REPLY")" = 1 ]; }
check "q takes it once p's lease ran out" wait_for "q takes over" 20 q_took
dt=$(( $(now_ms) - t0 ))
check "not before (${dt} ms)" test "$dt" -ge 2000
ip link set "${VETH[2]}" up
p_fenced() {
	ask HP "{\"id\":3,\"op\":\"renew\",\"generation\":$gp}" &&
	    jq -e '.ok == 0 and .fenced' <<<"$REPLY" >/dev/null
}
check "p, back, cannot renew its old generation" wait_for "p fenced" 40 p_fenced
ask HP "{\"id\":4,\"op\":\"step\",\"generation\":$gp,\"host\":\"h2\",\"step\":\"switched\"}"
check "nor write a step with it" bash -c 'jq -e ".ok == 0 and .fenced" <<<"$1" >/dev/null' _ "$REPLY"
check "no row of generation $gp was written" test "$($FQ -c "SELECT count(*) FROM tend.step WHERE generation = $gp")" = 0
check "the lease is q's" test "$($FQ -c "SELECT holder FROM tend.lease WHERE name = 'deploy'")" = q

# A fleet deploy while h2 is cut off, with on_lost = skip: once its link
# is back, h2 deploys the fleet's release by itself.  Both hosts now run
# web from a git repository (no nginx: a deploy restarts in place).
ask HQ "{\"id\":5,\"op\":\"release\",\"generation\":$($FQ -c "SELECT generation FROM tend.lease WHERE name = 'deploy'"),\"state\":\"done\"}"
app_user || { not_ok "create the app's user"; done_testing; }
SRC=$T/src
user_repo "$SRC"
printf '%s\n' 'exec node server.js' > "$SRC/start.sh"
git_commit "$SRC" start
chmod -R a+rX "$SRC"
repo_conf() {	# repo_conf I NAME PORT
	local d=$T/$2
	[ -d "$d/srv" ] || app_tree "$d/srv"
	{
		printf '[tend]\nsocket = %s/tend.sock\nstate_dir = %s/state\nlog_dir = %s/log\n\n' "$d" "$d" "$d"
		FLEET_URL=$NSURL fleet_section "$2"
		printf 'batch = 1\nwatch = 1s\non_lost = skip\n\n'
		printf '[app:web]\ndir = %s/srv\nuser = %s\nrepo = %s\ncommand = sh start.sh\nport = %s\nhealth = /health\nready_timeout = 8s\n' \
		    "$d" "$APP_USER" "$SRC" "$3"
	} > "$d/tend.conf.new" && mv "$d/tend.conf.new" "$d/tend.conf"
	hctl "$2" reread >/dev/null
}
repo_conf 1 h1 "$P1"
repo_conf 2 h2 "$P2"
on_sha() { [ "$(hctl "$1" releases web --json | jq -r '.releases[] | select(.live) | .sha')" = "$2" ]; }
check "both hosts back and not lost" wait_for "both again" 30 both_seen
out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" deploy web --fleet 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# h1: /'
sha1=$(git -C "$SRC" rev-parse HEAD)
check "a fleet deploy over the bridge puts both hosts on v1 (exit $rc)" bash -c '[ "$1" = 0 ]' _ "$rc"
for h in h1 h2; do check "$h runs v1" on_sha $h "$sha1"; done
echo v2 > "$SRC/version.txt"
git_commit "$SRC" v2
chmod -R a+rX "$SRC"
sha2=$(git -C "$SRC" rev-parse HEAD)
ip link set "${VETH[2]}" down
check "h2 cut off: lost" wait_for "h2 lost" 20 h2_lost
out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" deploy web --fleet 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# h1: /'
check "the fleet deploy goes on without h2 (exit $rc)" bash -c '[ "$1" = 0 ] && grep -q "h2: lost" <<<"$2"' _ "$rc" "$out"
check "h1 runs v2" on_sha h1 "$sha2"
check "h2 still runs v1, serving" bash -c 'ip netns exec "$1" curl -fsS --max-time 2 "127.0.0.1:$2/" | grep -q "^hello v1 "' _ "${NS[2]}" "$P2"
ip link set "${VETH[2]}" up
check "h2, its link back, converges to the fleet's release v2" wait_for "h2 on v2" 90 on_sha h2 "$sha2"
check "its log says why" grep -q "the fleet's last deploy left it on $sha2" "$T/h2/tendd.log"
check "and it serves v2" wait_for "h2 serves v2" 10 bash -c 'ip netns exec "$1" curl -fsS --max-time 2 "127.0.0.1:$2/" | grep -q "^hello v2 "' _ "${NS[2]}" "$P2"
done_testing
