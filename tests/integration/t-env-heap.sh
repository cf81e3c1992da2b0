#!/usr/bin/env bash
# The environment is built from nothing: base, env_file(s), env lines,
# PORT, heap.  Secrets never show in status.
. "$(dirname "$0")/../lib.sh"
P=$(free_port); Q=$(free_port)
mkdir -p "$T/app"
cat > "$T/app/one.env" <<'EOF2'
# first file
JWT_SECRET=s3cr3t-jwt-value-that-is-long-enough-000
DATABASE_URL=postgres://u:hunter2pass@127.0.0.1/db
OVERRIDE=from-one
FROM_ONE=1
EOF2
cat > "$T/app/two.env" <<'EOF2'
export OVERRIDE="from-two"
MULTI="a\nb"
EOF2
printf 'NODE_OPTIONS=--max-old-space-size=300\n' > "$T/app/heap.env"
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
min_ready = 200ms
env_file = $T/app/one.env
env_file = $T/app/two.env
env = FROM_LINE=yes
env = FROM_ONE=overridden
heap = 50%
; its DATABASE_URL points nowhere: this test is about the environment
preflight = no

[app:own]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $Q
min_ready = 200ms
env_file = $T/app/heap.env
heap = 50%
EOF2
export TEND_TEST_LEAK=leaked
tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for live 10 state_is web live
wait_for live 10 state_is own live
get() { curl -fsS "127.0.0.1:$P/env?name=$1"; }
check "env_file value reaches the app" test "$(get JWT_SECRET)" = s3cr3t-jwt-value-that-is-long-enough-000
check "later env_file wins" test "$(get OVERRIDE)" = from-two
check "env line wins over env_file" test "$(get FROM_ONE)" = overridden
check "env line reaches the app" test "$(get FROM_LINE)" = yes
check "double-quoted \\n is a newline" test "$(get MULTI)" = "$(printf 'a\nb')"
check "PORT is set" test "$(get PORT)" = "$P"
check "PATH is set" test -n "$(get PATH)"
check "HOME is set" test -n "$(get HOME)"
check "LANG is set" test -n "$(get LANG)"
check "tendd's own environment does not leak" bash -c "! curl -fsS '127.0.0.1:$P/env?name=TEND_TEST_LEAK' 2>/dev/null"
# heap: 50% of what tendd sees (cgroup limit capped by MemTotal).
mem=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) * 1024 ))
cg=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
if [ -r "/sys/fs/cgroup$cg/memory.max" ] && grep -qE '^[0-9]+$' "/sys/fs/cgroup$cg/memory.max"; then
	lim=$(cat "/sys/fs/cgroup$cg/memory.max"); [ "$lim" -lt "$mem" ] && mem=$lim
else
	v1=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	f=/sys/fs/cgroup/memory$v1/memory.limit_in_bytes
	if [ -r "$f" ]; then lim=$(cat "$f"); [ "$lim" -lt "$mem" ] && mem=$lim; fi
fi
want=$(( mem * 50 / 100 / 1048576 ))
opts=$(curl -fsS "127.0.0.1:$P/heap" | jq -r .node_options)
check "NODE_OPTIONS carries --max-old-space-size=$want" test "$opts" = "--max-old-space-size=$want"
check "status heap_mib matches" test "$(json web heap_mib)" = "$want"
opts=$(curl -fsS "127.0.0.1:$Q/heap" | jq -r .node_options)
check "a user's own --max-old-space-size wins" test "$opts" = "--max-old-space-size=300"
check "status says so" bash -c "\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '.apps[] | select(.name == \"own\") | .heap_note' | grep -q 'already sets'"
check "status --json shows no secret" bash -c "! \"$TENDCTL\" -c $T/tend.conf status --json | grep -Eq 'hunter2pass|s3cr3t-jwt'"
check "status table shows no secret" bash -c "! \"$TENDCTL\" -c $T/tend.conf status | grep -Eq 'hunter2pass|s3cr3t-jwt'"
check "tendd's own log shows no secret" bash -c "! grep -Eq 'hunter2pass|s3cr3t-jwt' $T/tendd.log"
done_testing
