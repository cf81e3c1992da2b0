#!/usr/bin/env bash
# The deploy history on disk: a deploy writes it three times (its record
# with the ref, its id and folder, its outcome), a rollback twice; the
# file keeps its field names; tendctl releases --json is the file plus
# "live"; an unreadable history is set aside, never written over.
. "$(dirname "$0")/../lib.sh"
SRC=$T/src
APPDIR=$T/srv/web
HIST=$T/state/web.deploys.json
git_repo "$SRC"
printf 'cp version.txt built.txt\n' > "$SRC/build.sh"
git_commit "$SRC" build
P=$(free_port)
tend_conf <<EOF
[app:web]
dir = $APPDIR
repo = $SRC
build = sh build.sh
command = $NODE server.js
port = $P
health = /health
ready_timeout = 20s
EOF
tendd_start || { not_ok "tendd starts"; done_testing; }

# How often tendd replaced the history file while CMD ran (strace), or
# "none" when tendd cannot be traced here.
STRACE=
command -v strace >/dev/null && STRACE=strace
saves() {
	local log=$T/strace.$RANDOM spid n
	if [ -z "$STRACE" ]; then "$@" >/dev/null 2>&1; echo none; return; fi
	strace -q -f -e trace=rename,renameat,renameat2 -o "$log" \
	    -p "$TENDD_PID" 2>/dev/null &
	spid=$!
	if ! wait_for "strace attached" 5 grep -q 'TracerPid:[[:space:]]*[1-9]' "/proc/$TENDD_PID/status"; then
		kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
		"$@" >/dev/null 2>&1; echo none; return
	fi
	"$@" >/dev/null 2>&1
	kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
	n=$(grep -c '"web\.deploys\.json"' "$log")
	echo "$n"
}
check_saves() {	# DESC WANT N
	if [ "$3" = none ]; then echo "skip - $1 (strace cannot trace tendd)"
	else check "$1 (saw $3)" test "$3" = "$2"; fi
}

n=$(saves tctl deploy web)
check "the first deploy goes live" state_is web live
check_saves "a deploy saves its history three times" 3 "$n"
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
n=$(saves tctl deploy web)
check "the second deploy goes live" test "$(jq -r '.[0].status' "$HIST")" = live
check_saves "so does the second one" 3 "$n"

# The file's shape, as earlier tendds wrote it.
jq . "$HIST" | sed 's/^/# /'
check "the live record has the fields of the file format" jq -e '
    .[0] | (keys_unsorted == ["id", "kind", "ref", "sha", "status",
    "created_at", "finished_at", "dir", "steps", "total_ms"]) and
    .kind == "deploy" and .ref == "main" and (.sha | length) == 40 and
    (.id | test("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}$")) and
    (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")) and
    (.steps | keys_unsorted == ["fetch", "checkout", "build", "await",
    "start", "switch"]) and (.total_ms | type) == "number"' "$HIST"
check "the record's folder is its release's" test "$(jq -r '.[0].dir' "$HIST")" = "$APPDIR/releases/$(jq -r '.[0].id' "$HIST")"
check "the one before is ready" test "$(jq -r '.[1].status' "$HIST")" = ready
check "releases --json is the file, with live marked" bash -c "
    diff <(jq -S '[.[] | . + {live: (.status == \"live\")}]' '$HIST') \
        <('$TENDCTL' -c '$T/tend.conf' releases web --json | jq -S .releases)"
first=$(jq -r '.[1].id' "$HIST")
n=$(saves tctl rollback web)
check "the rollback goes live" test "$(json web release)" = "$first"
check_saves "a rollback saves twice" 2 "$n"
check "it added no record" test "$(jq length "$HIST")" = 2
check "its release's record is live, not rolling back" jq -e --arg id "$first" '
    [.[] | select(.id == $id)][0] | .status == "live" and
    (has("rolling_back") | not)' "$HIST"

# An unreadable history: set aside, and a new one begins.
kill -TERM "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null
printf '[{"kind": "deploy", "status": "li' > "$HIST"
cp "$HIST" "$T/corrupt"
tendd_start || { not_ok "tendd starts with a corrupt history"; done_testing; }
check "tendd says so" grep -q 'web: deploy history unreadable, starting a new one: .*web.deploys.json:1:' "$T/tendd.log"
check "and where it kept the old one" grep -q "web: the unreadable deploy history is kept as $T/state/web.deploys.json.bad-[0-9]\{8\}T[0-9]\{6\}Z" "$T/tendd.log"
bad1=$(ls "$T/state"/web.deploys.json.bad-* 2>/dev/null | head -n 1)
check "which is the file as it was" cmp "$bad1" "$T/corrupt"
check "releases starts empty" test "$(tctl releases web --json | jq '.releases | length')" = 0
echo v3 > "$SRC/version.txt"; git_commit "$SRC" v3
check "a deploy works" tctl deploy web
check "into a new history of one record" test "$(jq length "$HIST")" = 1
check "the old one is untouched" cmp "$bad1" "$T/corrupt"

# Twice within a second: the second does not replace the first.
kill -TERM "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null
echo '{"not": "a list"}' > "$HIST"
cp "$HIST" "$T/corrupt2"
tendd_start || { not_ok "tendd starts with another corrupt history"; done_testing; }
kill -TERM "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null
echo '{"not": "a list"}' > "$HIST"
tendd_start || { not_ok "and with a third"; done_testing; }
check "every unreadable history is kept" test "$(ls "$T/state"/web.deploys.json.bad-* | wc -l)" = 3
check "the first one still as it was" cmp "$bad1" "$T/corrupt"
check "the state_dir has no temporary file left" bash -c "! ls -A '$T/state' | grep -q '\.tmp$'"
done_testing
