#!/usr/bin/env bash
# logs of several apps: merged by time with the app's name as a column,
# --err, --since, --json (parsed by jq), -f across two apps, and errors
# (an unknown app named, exit 1; a bad --since, exit 2).
. "$(dirname "$0")/../lib.sh"
# Each app writes 40 numbered lines, 20 ms apart, every 4th to stderr,
# then waits for a file named go to write one more of each.
cat > "$T/talk.sh" <<'SH'
i=1
while [ $i -le 40 ]; do
	if [ $((i % 4)) = 0 ]; then echo "$NAME err $i" >&2; else echo "$NAME out $i"; fi
	i=$((i + 1))
	sleep 0.02
done
while [ ! -e "$GO" ]; do sleep 0.05; done
echo "$NAME late out"
echo "$NAME late err" >&2
exec sleep 300
SH
for a in alpha bravo charlie; do
	cat <<EOF2
[app:$a]
dir = $T
command = /bin/sh $T/talk.sh
env = NAME=$a
env = GO=$T/go-$a
restart = never
min_ready = 100ms

EOF2
done | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
for a in alpha bravo charlie; do
	wait_for "$a's 40 lines" 15 grep -q "$a err 40" "$T/log/$a.log"
done

# Merged: the newest 60 of the three apps' 120 lines, in time order.
out=$(tctl logs alpha bravo charlie -n 60); rc=$?
check "logs of 3 apps exits 0 (got $rc)" test "$rc" = 0
check "60 lines" test "$(wc -l <<<"$out")" = 60
check "each line is its app's (name column = the app that wrote it)" \
    bash -c 'awk '\''$1 != $4 { bad = 1 } END { exit bad }'\'' <<<"$1"' _ "$out"
check "all 3 apps are in it" \
    test "$(awk '{ print $1 }' <<<"$out" | sort -u | tr '\n' ' ')" = "alpha bravo charlie "
check "in time order" bash -c 'awk "{ print \$2 }" <<<"$1" | sort -c' _ "$out"
switches=$(awk 'NR > 1 && $1 != prev { n++ } { prev = $1 } END { print n + 0 }' <<<"$out")
check "interleaved, not one app after another ($switches changes of app)" test "$switches" -gt 10
# The newest 60 of all: none left out is newer than the oldest shown.
oldest=$(head -1 <<<"$out" | awk '{ print $2 }')
newer=$(cat "$T"/log/{alpha,bravo,charlie}.log | grep -E ' (out|err) [a-z]+ (out|err) [0-9]+$' |
    awk -v o="$oldest" '$1 >= o' | wc -l)
check "they are the newest 60 of the three files ($newer at or after the first shown)" test "$newer" = 60
all=$(tctl logs all -n 1000 | grep -cE ' (out|err) [a-z]+ (out|err) [0-9]+$')
check "logs all: every app's 40 lines ($all)" test "$all" = 120
one=$(tctl logs bravo -n 3)
check "one app: no name column, lines as in the file" \
    bash -c 'grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+Z err bravo err 40$" <<<"$1"' _ "$one"

# --err: only stderr lines, and -n counts those.
err=$(tctl logs alpha charlie --err -n 100)
check "--err: the 20 stderr lines of two apps" test "$(wc -l <<<"$err")" = 20
check "--err: nothing but err lines" bash -c '! awk "\$3 != \"err\"" <<<"$1" | grep -q .' _ "$err"
check "--err -n 3: the newest 3" test "$(tctl logs alpha --err -n 3 | awk '{ print $NF }' | tr '\n' ' ')" = "32 36 40 "

# --since: an ISO-8601 time taken from the file: that line and those after.
t20=$(grep ' alpha out 21$' "$T/log/alpha.log" | awk '{ print $1 }')
since=$(tctl logs alpha --since "$t20" -n 1000 | grep -c ' alpha ')
exp=$(awk -v t="$t20" '$1 >= t' "$T/log/alpha.log" | grep -c ' alpha ')
check "--since $t20: the $exp lines from then on (got $since)" test "$since" = "$exp"
check "--since keeps out older lines" bash -c '! "$@" | grep -q " alpha out 19$"' _ \
    "$TENDCTL" -c "$T/tend.conf" logs alpha --since "$t20" -n 1000
check "--since 10m: all of them" test "$(tctl logs alpha --since 10m -n 1000 | grep -c ' alpha ')" = 40
check "--since a future time: nothing" test -z "$(tctl logs alpha --since 2099-01-01)"
tctl logs alpha --since yesterday >/dev/null 2>"$T/since.err"; rc=$?
check "a bad --since is a usage error (exit $rc)" test "$rc" = 2
check "and says why" grep -q 'since yesterday' "$T/since.err"

# --json: one object a line, for jq.
tctl logs alpha bravo -n 10 --json > "$T/json.out"; rc=$?
check "--json exits 0 (got $rc)" test "$rc" = 0
check "--json: 10 objects" test "$(jq -c . "$T/json.out" | wc -l)" = 10
check "--json: app, time, stream, line of each" jq -se \
    'length == 10 and all(.[]; (.app == "alpha" or .app == "bravo") and
     (.time | test("^[0-9]{4}-.*Z$")) and (.stream == "out" or .stream == "err") and
     (. as $o | .line | startswith($o.app)))' "$T/json.out"
check "--json: in time order" jq -se '[.[].time] == ([.[].time] | sort)' "$T/json.out"

# Errors: an unknown app is named, exit 1, and nothing is printed.
out=$(tctl logs alpha nosuch 2>&1); rc=$?
check "an unknown app exits 1 (got $rc)" test "$rc" = 1
check "and is named" grep -q 'no app named nosuch' <<<"$out"
check "and no lines are shown" bash -c '! grep -q "alpha out" <<<"$1"' _ "$out"
tctl logs alpha '../x' >/dev/null 2>&1; rc=$?
check "an invalid name is a usage error (exit $rc)" test "$rc" = 2

# -f across two apps: the history, then new lines of both, named.
"$TENDCTL" -c "$T/tend.conf" logs alpha bravo -f -n 2 > "$T/follow.out" 2>"$T/follow.err" &
fpid=$!
on_exit "kill $fpid"
wait_for "follower's history" 10 grep -q 'bravo err 40' "$T/follow.out"
check "-f starts with the history of both" test "$(grep -c . "$T/follow.out")" = 2
touch "$T/go-alpha" "$T/go-bravo" "$T/go-charlie"
check "-f shows alpha's new lines" wait_for "alpha late" 10 grep -q '^alpha .* alpha late err$' "$T/follow.out"
check "-f shows bravo's new lines" wait_for "bravo late" 10 grep -q '^bravo .* bravo late err$' "$T/follow.out"
wait_for "charlie's late line" 10 grep -q 'charlie late err' "$T/log/charlie.log"
check "-f shows no app it was not asked for" bash -c "! grep -q charlie $T/follow.out"
check "-f is still following" kill -0 "$fpid"
check "-f printed no error" test ! -s "$T/follow.err"
kill "$fpid"
"$TENDCTL" -c "$T/tend.conf" logs charlie -f --err -n 1 > "$T/ferr.out" &
fpid=$!
on_exit "kill $fpid"
wait_for "follower's history" 5 grep -q 'charlie late err' "$T/ferr.out"
tctl restart charlie >/dev/null
check "-f --err shows the new stderr line" wait_for "charlie err" 15 grep -q 'charlie err 4$' "$T/ferr.out"
check "-f --err shows no stdout line" bash -c "! grep -q ' out ' $T/ferr.out"
kill "$fpid"

# -f of two apps when one is removed (reread): the other goes on; when
# it goes too, the reader is told and tendctl exits 1.
"$TENDCTL" -c "$T/tend.conf" logs alpha bravo -f -n 1 > "$T/rm.out" 2>"$T/rm.err" &
fpid=$!
on_exit "kill $fpid"
wait_for "follower's history" 10 test -s "$T/rm.out"
sed -i '/^\[app:bravo\]/,/^$/d' "$T/tend.conf"
tctl reread >/dev/null
check "bravo is gone" wait_for "bravo removed" 10 bash -c "! tctl status bravo"
tctl restart alpha >/dev/null
check "-f goes on with alpha" wait_for "alpha's new run" 15 grep -q '^alpha .* alpha out 1$' "$T/rm.out"
check "-f is still following" kill -0 "$fpid"
sed -i '/^\[app:alpha\]/,/^$/d' "$T/tend.conf"
tctl reread >/dev/null
check "when alpha goes too, tendctl ends" wait_for "follower ends" 10 bash -c "! kill -0 $fpid"
wait "$fpid"; rc=$?
check "with exit 1 (got $rc)" test "$rc" = 1
check "saying alpha was removed" grep -q 'alpha was removed' "$T/rm.err"
check "status still answers" tctl status
done_testing
