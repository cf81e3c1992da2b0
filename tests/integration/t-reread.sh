#!/usr/bin/env bash
# reread (and SIGHUP) applies a changed config: removed apps stop, added
# ones start, changed ones restart, unchanged ones keep their pid; a broken
# config changes nothing.
. "$(dirname "$0")/../lib.sh"
A=$(free_port); B=$(free_port); C=$(free_port); D=$(free_port)
app() {	# NAME PORT [ENV]
	printf '[app:%s]\ndir = %s/tests/app\ncommand = %s server.js\nport = %s\nmin_ready = 200ms\n%s\n\n' \
	    "$1" "$SRCDIR" "$NODE" "$2" "${3:+env = $3}"
}
{ app a "$A"; app b "$B" VERSION=one; app d "$D"; } | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
all_live() { [ "$(tctl status --json | jq '[.apps[] | select(.state != "live")] | length')" = 0 ]; }
check "a, b, d live" wait_for "all live" 10 all_live
bpid=$(json b pid); dpid=$(json d pid)
{ app b "$B" VERSION=two; app c "$C"; app d "$D"; } | tend_conf
check "tendctl reread returns 0" tctl reread
check "a is gone from status" wait_for "a gone" 10 bash -c "[ -z \"\$(\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '.apps[] | select(.name == \"a\") | .name')\" ]"
check "a's port is closed" wait_for "a closed" 5 bash -c "! curl -s 127.0.0.1:$A/ >/dev/null"
b_new() { p=$(json b pid); [ "$p" != null ] && [ "$p" != "$bpid" ] && state_is b live; }
check "b restarted (new pid)" wait_for "b restarted" 10 b_new
check "b has the new env" wait_for "b version two" 5 bash -c "curl -s 127.0.0.1:$B/ | grep -q 'hello two'"
check "c added and live" wait_for "c live" 10 state_is c live
check "d unchanged: same pid" test "$(json d pid)" = "$dpid"
dpid=$(json d pid); cpid=$(json c pid)
printf '[app:d]\nbogus_key = 1\nport = notaport\n' | tend_conf
out=$(tctl reread 2>&1); rc=$?
check "reread of a broken config exits 1" test "$rc" = 1
check "and prints file:line errors" grep -q "tend.conf:[0-9]*: unknown key 'bogus_key'" <<<"$out"
check "and the second error too" grep -q "tend.conf:[0-9]*: port:" <<<"$out"
check "apps keep running with the same pids" test "$(json d pid) $(json c pid)" = "$dpid $cpid"
{ app b "$B" VERSION=two; app c "$C"; app d "$D" VERSION=hup; } | tend_conf
kill -HUP "$TENDD_PID"
d_new() { p=$(json d pid); [ "$p" != null ] && [ "$p" != "$dpid" ] && state_is d live; }
check "SIGHUP rereads too (d restarted)" wait_for "d restarted" 10 d_new
check "c untouched by SIGHUP" test "$(json c pid)" = "$cpid"
done_testing
