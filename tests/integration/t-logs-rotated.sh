#!/usr/bin/env bash
# logs -n reads the files on disk from their end, across rotated files:
# every line once, in order, the newest N of them.
. "$(dirname "$0")/../lib.sh"
N=6000
flood_conf "$N" $'log_max_size = 64K\nlog_keep = 30\nlog_lines = 10'
tendd_start || { not_ok "tendd starts"; done_testing; }
check "flood app ran and stopped" wait_for "flood stopped" 60 state_is flood stopped
files=$(ls "$T"/log/flood.log.* | wc -l)
check "the log was rotated into several files ($files)" test "$files" -ge 4
seq_of() { grep -o ' out line [0-9]*' | awk '{ print $3 + 0 }'; }

# Far more than the 10 lines held in memory: the files are read.
"$TENDCTL" -c "$T/tend.conf" logs flood -n 4000 > "$T/n4000"; rc=$?
check "logs -n 4000 exits 0 (got $rc)" test "$rc" = 0
check "4000 lines" test "$(wc -l < "$T/n4000")" = 4000
last=$(seq_of < "$T/n4000" | tail -1)
first=$(seq_of < "$T/n4000" | head -1)
count=$(seq_of < "$T/n4000" | wc -l)
check "the newest: up to line $N (got $last)" test "$last" = "$N"
check "consecutive, none twice ($first..$last, $count lines)" \
    bash -c '[ $(( $2 - $1 + 1 )) = "$3" ] && seq_of() { grep -o " out line [0-9]*" | awk "{ print \$3 + 0 }"; } && seq_of < "$4" | sort -nc' _ "$first" "$last" "$count" "$T/n4000"
fline=$(grep -m1 ' out line ' "$T/n4000")
from=$(grep -lF -- "$fline" "$T"/log/flood.log*)
two=$(cat "$T/log/flood.log" "$T/log/flood.log.1" | wc -l)
check "the current and first rotated files hold fewer ($two lines)" test "$two" -lt 4000
check "so its first line comes from an older one ($(basename "$from"))" \
    bash -c '[[ "$1" =~ \.log\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ]' _ "$from"
for k in $(seq "$files" -1 1); do cat "$T/log/flood.log.$k"; done > "$T/all"
cat "$T/log/flood.log" >> "$T/all"
check "the lines are the files' last 4000, byte for byte" bash -c 'tail -n 4000 "$1" | cmp -s - "$2"' _ "$T/all" "$T/n4000"

all=$(tctl logs flood -n 100000 | seq_of)
check "-n 100000: all $N lines, once each, in order" \
    bash -c '[ "$(wc -l <<<"$1")" = "$2" ] && [ "$(sort -n <<<"$1" | uniq | wc -l)" = "$2" ] && sort -nc <<<"$1"' _ "$all" "$N"
check "-n 0: nothing" test -z "$(tctl logs flood -n 0)"
check "-n 1: the last line" bash -c '[ "$("$@")" = "$(tail -n 1 '"$T"'/log/flood.log)" ]' _ "$TENDCTL" -c "$T/tend.conf" logs flood -n 1

# Readers that do not read: each holds its history (bounded) and a slot;
# past 4 at once, a clear refusal, and the slots free when they go.
python3 - "$T" <<'PY' &
import os, socket, sys, time
T = sys.argv[1]
socks = []
for i in range(4):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(T + "/tend.sock")
    s.sendall(b'{"cmd":"logs","app":"flood","n":100000}\n')
    socks.append(s)
open(T + "/stuck", "w").close()
end = time.time() + 30
while not os.path.exists(T + "/let-go") and time.time() < end:
    time.sleep(0.05)
PY
stuck=$!
wait_for "4 stuck readers" 10 test -e "$T/stuck"
busy() { ! "$TENDCTL" -c "$T/tend.conf" logs flood -n 1 >/dev/null 2>"$T/busy.err"; }
check "a 5th history at once is refused" wait_for "refusal" 10 busy
check "saying why" grep -q 'logs are being read already: try again' "$T/busy.err"
check "status answers meanwhile" tctl status
touch "$T/let-go"
wait "$stuck"
check "when they go, logs answers again" wait_for "slots free" 10 tctl logs flood -n 1
done_testing
