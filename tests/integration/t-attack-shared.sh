#!/usr/bin/env bash
# The build runs as the app's user and may change its release before the
# `shared` entries are linked into the start_dir: it makes start_dir a
# link to a root-only directory (web), or replaces its whole release
# directory with a link to a root directory (web2).  The links are made
# as the user, so none lands in root's directories, nothing runs there,
# and the deploys fail.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
SRC=$T/src
user_repo "$SRC"
mkdir -p "$T/srv"
A=$T/srv/web; B=$T/srv/web2
app_tree "$A"; app_tree "$B"
app() {	# NAME DIR BUILD
	printf '[app:%s]\ndir = %s\nrepo = %s\nuser = %s\nshared = .env\nstart_dir = sub\nbuild = %s\ncommand = %s server.js\nport = %s\nhealth = /health\nready_timeout = 5s\nkill_timeout = 2s\n\n' \
	    "$1" "$2" "$SRC" "$APP_USER" "$3" "$NODE" "$(free_port)"
}
{
	app web "$A" "ln -s $V/private/app sub"
	app web2 "$B" "d=\$(pwd) && mv \"\$d\" \"\$d.moved\" && ln -s $V/public \"\$d\""
	other_conf
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"

for a in web web2; do
	out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy "$a" 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $a: /"
	check "$a: the deploy fails (exit $rc)" test "$rc" = 1
	check "$a: is not live" bash -c "[ \"\$('$TENDCTL' -c '$T/tend.conf' status --json | jq -r '.apps[] | select(.name == \"$a\") | .state')\" != live ]"
done
check "no link named .env in root's directories" test -z "$(find "$V" -name .env)"
check "nothing runs in root's private app dir" none_in "$V/private/app"
check "nothing runs in root's public dir" none_in "$V/public"
check "nor in its sub/" none_in "$V/public/sub"
attack_checks
done_testing
