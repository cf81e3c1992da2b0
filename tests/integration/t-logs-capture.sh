#!/usr/bin/env bash
# Log capture's fast path (many whole lines of an instance's stdout
# staged at once): two apps flooding together keep their lines in their
# own files, complete and in order; a line longer than the 16 KiB cap in
# the middle of a batch is split into stamped pieces and not a byte is
# lost; a last line without a newline is kept; the instances of a
# two-instance app are told apart; stderr goes its own way.
. "$(dirname "$0")/../lib.sh"
N=100000
# Lines "APP seq N" padded to ~100 bytes, in big writes (awk's buffer).
cat > "$T/flood.sh" <<'SH'
awk -v app="$1" -v n="$2" 'BEGIN { pad = sprintf("%080d", 0); for (i = 1; i <= n; i++) printf "%s seq %d %s\n", app, i, pad }'
SH
# One write (cat's) holding a short line, a 40,000-byte line, a short
# line, and an unterminated last line.
{ printf 'before\n'; head -c 40000 /dev/zero | tr '\0' a; printf '\nafter\nno newline at the end'; } > "$T/long.txt"
cat > "$T/long.sh" <<'SH'
cat long.txt
echo "to stderr" >&2
SH
TEND_EXTRA='log_max_size = 1G' tend_conf <<CONF
[app:one]
dir = $T
command = sh flood.sh one $N
restart = never
autostart = no

[app:two]
dir = $T
command = sh flood.sh two $N
restart = never
autostart = no

[app:long]
dir = $T
command = sh long.sh
restart = never
autostart = no

[app:pair]
dir = $T
command = sh flood.sh pair 1000
instances = 2
restart = never
autostart = no
CONF
tendd_start || { not_ok "tendd starts"; done_testing; }
tctl start one two long pair --no-wait >/dev/null 2>&1 ||
	{ tctl start one --no-wait; tctl start two --no-wait; tctl start long --no-wait; tctl start pair --no-wait; } >/dev/null
exited() { grep -q 'exited with code 0.*restart = never' "$T/log/$1.log"; }
for a in one two long pair; do
	check "$a ran to its end" wait_for "$a exited" 60 exited "$a"
done

for a in one two; do
	got=$(grep -c " out $a seq " "$T/log/$a.log")
	check "$a: all $N lines in its own log (got $got)" test "$got" = "$N"
	other=$([ $a = one ] && echo two || echo one)
	check "$a: none of $other's lines" bash -c "! grep -q ' out $other seq ' '$T/log/$a.log'"
	order=$(grep " out $a seq " "$T/log/$a.log" | awk '{ if ($5 != NR) { print "line " NR " is seq " $5; exit } } END { print "ok" }' | head -n 1)
	check "$a: in order, no gap, no repeat ($order)" test "$order" = ok
	check "$a: every line stamped" bash -c "! grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (out|tend) ' '$T/log/$a.log'"
done

L=$T/log/long.log
check "the line before the long one" grep -qE '^[^ ]+ out before$' "$L"
pieces=$(grep -E '^[^ ]+ out a+$' "$L" | awk '{ print length($3) }' | tr '\n' ' ')
check "the long line in pieces of 16384, 16384, 7232 ($pieces)" test "$pieces" = "16384 16384 7232 "
check "the line after it, after the pieces" bash -c "grep -nE ' out (a+|after)$' '$L' | tail -n 1 | grep -q ' out after$'"
check "the unterminated last line is kept" grep -qE '^[^ ]+ out no newline at the end$' "$L"
check "stderr is stamped err" grep -qE '^[^ ]+ err to stderr$' "$L"

P=$T/log/pair.log
for i in 0 1; do
	got=$(grep -c " out\.$i pair seq " "$P")
	check "pair: instance $i's 1000 lines say out.$i (got $got)" test "$got" = 1000
done
done_testing
