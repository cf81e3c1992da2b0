#!/usr/bin/env bash
# The app's user, owner of dir, plants symbolic links where a deploy
# makes its directories: dir/releases and dir/repo point at root's own
# directories.  A deploy must not make them the user's (root never
# chowns or creates inside the app's tree: git runs as the user, who
# cannot write there), must fail, and must leave root's files, tendd and
# the other app as they were.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
SRC=$T/src
user_repo "$SRC"
mkdir -p "$T/srv"
A=$T/srv/web; B=$T/srv/web2
app_tree "$A"; app_tree "$B"
# The attack, in place before the first deploy.
as_app ln -s "$V/public" "$A/releases"
as_app ln -s "$V/private" "$B/repo"
app() {	# NAME DIR
	printf '[app:%s]\ndir = %s\nrepo = %s\nuser = %s\nshared = .env\ncommand = %s server.js\nport = %s\nhealth = /health\nready_timeout = 10s\n\n' \
	    "$1" "$2" "$SRC" "$APP_USER" "$NODE" "$(free_port)"
}
{ app web "$A"; app web2 "$B"; other_conf; } | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"

out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# web: /'
check "a deploy into releases -> root's dir fails (exit 1)" test "$rc" = 1
check "root's directory is still root's" test "$(stat -c '%U %a' "$V/public")" = "root 755"
check "web is not live" bash -c "[ \"\$('$TENDCTL' -c '$T/tend.conf' status --json | jq -r '.apps[] | select(.name == \"web\") | .state')\" != live ]"

out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web2 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# web2: /'
check "a deploy with repo -> root's private dir fails (exit 1)" test "$rc" = 1
check "root's private directory is still root's, 0700" test "$(stat -c '%U %a' "$V/private")" = "root 700"

# The same again on a tendd that was running when the links appeared.
out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
check "a second deploy fails the same way (exit 1)" test "$rc" = 1
attack_checks
done_testing
