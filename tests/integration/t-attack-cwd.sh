#!/usr/bin/env bash
# A child enters its working directory after dropping privileges.  The
# app's user points the path an app runs in at a directory below a
# root-only one (root's private/, mode 0700): a process already inside
# it could read what it holds, which the user cannot reach.  Started as
# the user, the app cannot get there: it does not start, with a reason
# naming the directory or the permission, and nothing runs in it.
#   web   dir = DIR/current, a worker's shape (README); current -> root's
#   cur   a deployed app: after a deploy, its release directory (and
#         current) -> root's, then the app restarts
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
SRC=$T/src
user_repo "$SRC"
mkdir -p "$T/srv"
A=$T/srv/web; B=$T/srv/cur
app_tree "$A"; app_tree "$B"
TARGET=$V/private/app
check "the user cannot reach root's dir" bash -c "! runuser -u '$APP_USER' -- test -r '$TARGET/server.js'"
as_app ln -s "$TARGET" "$A/current"
# What runs there reads a file by a relative path (no lookup from /, which
# the kernel would refuse), then stays.
CMD="sh -c 'wc -c server.js && exec sleep 1000'"
{
	cat <<EOF
[app:web]
dir = $A/current
user = $APP_USER
command = $CMD
min_ready = 200ms

[app:cur]
dir = $B
repo = $SRC
user = $APP_USER
command = $CMD
min_ready = 200ms

EOF
	other_conf
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"
out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy cur 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# deploy cur: /'
check "cur's deploy goes live (exit $rc)" test "$rc" = 0
rel=$(json cur release)
check "cur ran its release and read its own server.js" grep -q '[0-9] server.js' "$T/log/cur.log"
: > "$T/log/cur.log"
# The attack on cur: its release directory and current lead into root's.
as_app mv "$B/releases/$rel" "$B/releases/$rel.real"
as_app ln -s "$TARGET" "$B/releases/$rel"
as_app ln -sfn "$TARGET" "$B/current"
timeout 10 "$TENDCTL" -c "$T/tend.conf" restart cur 2>&1 | sed 's/^/# restart cur: /'
for a in web cur; do
	not_started() { local s; s=$(json "$1" state); [ "$s" = failed ] || [ "$s" = backoff ]; }
	check "$a does not start (failed or backoff)" wait_for "$a refused" 15 not_started "$a"
	reason=$(json "$a" reason)
	echo "# $a: $(json "$a" state): $reason"
	check "$a: the reason names the directory or the permission" \
	    grep -qiE "permission denied|$TARGET|$T/srv/$a|chdir|cannot enter" <<<"$reason"
	check "$a never read root's file" bash -c "! grep -q '[0-9] server.js' '$T/log/$a.log'"
done
check "nothing runs in root's directory" none_in "$TARGET"
check "nothing runs as the app's user" bash -c "! pgrep -u '$APP_USER' >/dev/null"
attack_checks
done_testing
