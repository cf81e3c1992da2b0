#!/usr/bin/env bash
# Output is captured line by line with timestamps, rotated by size, and
# not one line is lost; logs -n and logs -f work.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
N=200000
flood_conf "$N" $'log_max_size = 1M\nlog_keep = 50' "[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
min_ready = 200ms"
tendd_start || { not_ok "tendd starts"; done_testing; }
check "flood app ran and stopped" wait_for "flood stopped" 60 state_is flood stopped
files=$(ls "$T"/log/flood.log* | wc -l)
check "the log was rotated (files: $files)" test "$files" -gt 5
lines=$(cat "$T"/log/flood.log* | grep -c ' out line ')
check "all $N lines are in the logs (got $lines)" test "$lines" = "$N"
dups=$(cat "$T"/log/flood.log* | grep ' out line ' | awk '{print $4}' | sort | uniq -d | wc -l)
check "no line twice" test "$dups" = 0
seqok=$(cat "$T"/log/flood.log* | grep ' out line ' | awk '{print $4}' | sort -n | awk '{ if ($1 + 0 != NR) { print "gap at " NR; exit } } END { print "ok" }' | head -1)
check "sequence 1..$N complete" test "$seqok" = ok
check "lines start with an ISO-8601 UTC timestamp" bash -c "! grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (out|err|tend) ' $T/log/flood.log"
check "no rotated file is over the size by more than a batch" bash -c "for f in $T/log/flood.log.*; do [ \$(stat -c %s \$f) -lt \$((1024*1024 + 300*1024)) ] || exit 1; done"
wait_for live 10 state_is web live
out=$(tctl logs web -n 2)
check "logs -n 2 prints 2 lines" test "$(printf '%s\n' "$out" | wc -l)" = 2
tctl logs web -f > "$T/follow.out" 2>&1 &
fpid=$!
on_exit "kill $fpid"
wait_for "follower attached" 5 test -s "$T/follow.out"
curl -s "127.0.0.1:$P/crash" >/dev/null
check "logs -f sees new lines" wait_for "restart line in follow" 10 grep -q 'exited with code 3' "$T/follow.out"
kill $fpid 2>/dev/null
check "logs of an unknown app exits 1" bash -c "! \"$TENDCTL\" -c $T/tend.conf logs nosuch"
done_testing
