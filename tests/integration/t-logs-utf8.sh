#!/usr/bin/env bash
# An app whose output is not UTF-8: `logs -n`, `logs --json` and `logs -f`
# show it with U+FFFD in place of the bad bytes (exit 0, and the follower
# keeps following); the log file keeps the bytes as the app wrote them.
. "$(dirname "$0")/../lib.sh"
cat > "$T/bad.sh" <<'SH'
printf '\377\376 bad\n'
printf 'caf\351 latin-1\n'
printf 'ok \303\251 utf-8\n'
while [ ! -e go ]; do sleep 0.05; done
printf 'later \377 line\n'
exec sleep 300
SH
tend_conf <<EOF2
[app:bad]
dir = $T
command = /bin/sh $T/bad.sh
restart = never
min_ready = 100ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for "bad output logged" 10 grep -q 'utf-8' "$T/log/bad.log"
R=$(printf '\357\277\275')	# U+FFFD

out=$(tctl logs bad -n 5 2>&1); rc=$?
check "logs -n 5 exits 0 (got $rc)" test "$rc" = 0
check "logs -n 5 shows U+FFFD for bytes that are not UTF-8" grep -qF "$R$R bad" <<<"$out"
check "logs -n 5 shows Latin-1 as U+FFFD" grep -qF "caf$R latin-1" <<<"$out"
check "logs -n 5 keeps valid UTF-8 as it is" grep -qF "ok $(printf '\303\251') utf-8" <<<"$out"

json=$(tctl logs bad -n 5 --json 2>&1); rc=$?
check "logs --json exits 0 (got $rc)" test "$rc" = 0
check "logs --json is valid JSON with U+FFFD" bash -c 'jq -er .line <<<"$1" | grep -qxF "$2$2 bad"' _ "$json" "$R"

tctl logs bad -f > "$T/follow.out" 2>"$T/follow.err" &
fpid=$!
wait_for "follower attached" 5 grep -q 'latin-1' "$T/follow.out"
touch "$T/go"
check "logs -f shows a new bad line with U+FFFD" wait_for "later line" 10 grep -qF "later $R line" "$T/follow.out"
check "logs -f is still following" kill -0 "$fpid"
check "logs -f printed no error" test ! -s "$T/follow.err"
kill "$fpid"
check "status still answers" tctl status
check "the log file keeps the bytes the app wrote" grep -q $'\377\376 bad' "$T/log/bad.log"
done_testing
