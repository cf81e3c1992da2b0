#!/usr/bin/env bash
# log_compress = yes: rotated files are gzipped by a child process, the
# plain ones go, and logs -n reads the gzipped ones back: every line once.
. "$(dirname "$0")/../lib.sh"
N=6000
flood_conf "$N" $'log_max_size = 64K\nlog_keep = 30\nlog_lines = 10\nlog_compress = yes'
tendd_start || { not_ok "tendd starts"; done_testing; }
check "flood app ran and stopped" wait_for "flood stopped" 60 state_is flood stopped
plain() { ls "$T"/log/ | grep -E '^flood\.log\.[0-9]+$'; }
check "every rotated file gets gzipped" wait_for "no plain rotated file" 30 bash -c "! ls $T/log/ | grep -qE '^flood\.log\.[0-9]+$'"
gz=$(ls "$T"/log/flood.log.*.gz | wc -l)
check "several gzipped files ($gz)" test "$gz" -ge 4
check "each is a whole gzip file" gzip -t "$T"/log/flood.log.*.gz
check "numbered 1..$gz with no gap" bash -c 'for k in $(seq 1 '"$gz"'); do [ -f '"$T"'/log/flood.log.$k.gz ] || exit 1; done'
check "no tmp file is left" bash -c "! ls $T/log/ | grep -q tmp"
check "root's files, not readable by others" bash -c "! find $T/log -name 'flood.log.*.gz' -perm /o=r | grep -q ."

seq_of() { grep -o ' out line [0-9]*' | awk '{ print $3 + 0 }'; }
for k in $(seq "$gz" -1 1); do gzip -dc "$T/log/flood.log.$k.gz"; done > "$T/all"
cat "$T/log/flood.log" >> "$T/all"
check "the files hold all $N lines" test "$(seq_of < "$T/all" | sort -un | wc -l)" = "$N"
"$TENDCTL" -c "$T/tend.conf" logs flood -n 4000 > "$T/n4000"; rc=$?
check "logs -n 4000 exits 0 (got $rc)" test "$rc" = 0
check "logs -n 4000 reads the gzipped files: their last 4000 lines, byte for byte" \
    bash -c 'tail -n 4000 "$1" | cmp -s - "$2"' _ "$T/all" "$T/n4000"
all=$(tctl logs flood -n 100000 | seq_of)
check "-n 100000: all $N lines, once each, in order" \
    bash -c '[ "$(wc -l <<<"$1")" = "$2" ] && [ "$(sort -un <<<"$1" | wc -l)" = "$2" ] && sort -nc <<<"$1"' _ "$all" "$N"
t=$(gzip -dc "$T/log/flood.log.2.gz" | sed -n 5p | awk '{ print $1 }')
since=$(tctl logs flood --since "$t" -n 100000 | wc -l)
exp=$(awk -v t="$t" '$1 >= t' "$T/all" | wc -l)
check "--since a time inside a gzipped file: the $exp lines from then on (got $since)" test "$since" = "$exp"
check "tendd logged no error" bash -c "! grep -Ei 'gzip|warn|error' $T/tendd.log"
done_testing
