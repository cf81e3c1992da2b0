#!/usr/bin/env bash
# [fleet] across a network: two hosts, each a network namespace made by
# the test on a bridge of its own (10.213.0.0/24), each with its own
# tendd and Node server, one PostgreSQL reached over the bridge.  One
# host's link is cut: the other sees it LOST once its lease ran out,
# while it keeps serving and answering plain status; its status --fleet
# fails naming the database.  Its link comes back: it beats again.
# A lease holder partitioned past its lease is replaced, and once its
# link is back its generation can no longer write or renew.
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
done_testing
