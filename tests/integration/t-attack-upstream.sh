#!/usr/bin/env bash
# nginx's upstream file is written by root from integers tend computed
# and release ids from tend's own history.  The app's user points
# `current` at a copy of its release named "x<newline>server
# 10.0.0.1:80;" and waits for tendd to restart, reload, reread or deploy:
# the upstream file never holds anything but tend's own lines, and
# nginx -t passes.  An nginx_upstream in a directory the user can write
# is refused.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
SRC=$T/src
user_repo "$SRC"
mkdir -p "$T/srv" "$T/nginx"
A=$T/srv/web
app_tree "$A"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
UP=$T/nginx/upstream-web.conf
conf() {
	{
		cat <<EOF
[app:web]
dir = $A
repo = $SRC
user = $APP_USER
shared = .env
command = $NODE server.js
port = $P
health = /health
ready_timeout = 10s
kill_timeout = 2s
nginx_upstream = $UP
nginx_test = $NGINX_TEST
nginx_reload = $NGINX_RELOAD
drain_timeout = 200ms
${1:-}

EOF
		other_conf
	} | tend_conf
}
NGINX_TEST=true NGINX_RELOAD=true conf
tendd_start || { not_ok "tendd starts"; done_testing; }
nginx_start "$UP" web || { not_ok "nginx starts"; done_testing; }
# tend's nginx_test keeps a copy of every upstream file tend has nginx
# check, so a bad one that nginx refused (and tend put back) is seen.
cat > "$T/nginx-test.sh" <<EOF
#!/bin/sh
{ cat "$UP"; echo "# ----"; } >> "$T/upstream.seen"
exec $NGINX_TEST
EOF
chmod 755 "$T/nginx-test.sh"
: > "$T/upstream.seen"
NGINX_TEST=$T/nginx-test.sh
conf
tctl reread >/dev/null
other_up || not_ok "the other app goes live"

# clean WHEN: the upstream file, and every version of it tend had nginx
# check, holds only tend's lines; nginx takes it.
LINES='^(#.*|upstream tend_web \{|[[:space:]]*server 127\.0\.0\.1:[0-9]+;|\})$'
clean() {
	local f bad=
	for f in "$UP" "$T/upstream.seen"; do
		if grep -vqE "$LINES" "$f" || grep -q '10\.0\.0\.1' "$f"; then
			bad="$bad $f"
		fi
	done
	if [ -z "$bad" ]; then
		ok "$1: the upstream file never held anything but tend's lines"
	else
		not_ok "$1: the upstream file never held anything but tend's lines" "bad lines in:$bad"
		grep -vhE "$LINES" "$UP" "$T/upstream.seen" | sed 's/^/#   /'
	fi
	check "$1: nginx -t passes" nginx -t -q -c "$T/nginx/nginx.conf" -p "$T/nginx/"
}
serves() { wait_for "nginx to serve $1" 10 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }

out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# deploy v1: /'
check "the first deploy exits 0" test "$rc" = 0 || done_testing
check "nginx serves v1" serves v1
rel1=$(json web release)

# The attack: a release directory whose name carries an nginx line, and
# current pointing at it.
EVIL="x"$'\n'"server 10.0.0.1:80;"
as_app cp -a "$A/releases/$rel1" "$A/releases/$EVIL"
as_app ln -sfn "$A/releases/$EVIL" "$A/current.new"
as_app mv -T "$A/current.new" "$A/current"
[ "$(readlink "$A/current")" = "$A/releases/$EVIL" ] || not_ok "the attacker repointed current"

kill -TERM "$TENDD_PID"; wait "$TENDD_PID"; TENDD_PID=
tendd_start || { not_ok "tendd restarts"; done_testing; }
other_up || not_ok "the other app goes live again"
clean "after a restart of tendd"
check "status shows no planted name (release ids come from tend's history)" bash -c "! '$TENDCTL' -c '$T/tend.conf' status --json | grep -q '10\.0\.0\.1'"
wait_for "web running" 15 bash -c "[ \"\$('$TENDCTL' -c '$T/tend.conf' status --json | jq -r '.apps[] | select(.name == \"web\") | .state')\" = live ]"
timeout 30 "$TENDCTL" -c "$T/tend.conf" reload web 2>&1 | sed 's/^/# reload: /'
clean "after tendctl reload"
# The reload's old instance drains first: a reread during that waits for
# it, and this one should restart web at once.
wait_for "one instance of web" 10 bash -c "[ \"\$('$TENDCTL' -c '$T/tend.conf' status --json | jq '.apps[] | select(.name == \"web\") | .pids | length')\" = 1 ]"
pid=$(json web pid)
conf "env = TOUCHED=1"
timeout 30 "$TENDCTL" -c "$T/tend.conf" reread 2>&1 | sed 's/^/# reread: /'
wait_for "web restarted" 15 bash -c "p=\$('$TENDCTL' -c '$T/tend.conf' status --json | jq -r '.apps[] | select(.name == \"web\") | \"\\(.state) \\(.pid)\"'); [ \"\${p% *}\" = live ] && [ \"\${p#* }\" != $pid ]"
clean "after tendctl reread with web's section changed"
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# deploy v2: /'
check "a deploy after the attack goes live (exit $rc)" test "$rc" = 0
check "nginx serves v2" serves v2
clean "after the next deploy"
check "no history record carries the planted name" bash -c "! grep -q '10\.0\.0\.1' '$T/state/web.deploys.json'"

# nginx_upstream in a directory the app's user owns: refused, nothing
# written there (the user left a link to root's file in its place).
as_app mkdir -p "$A/nginx"
as_app ln -s "$V/public/data.txt" "$A/nginx/upstream.conf"
sed "s|^nginx_upstream = .*|nginx_upstream = $A/nginx/upstream.conf|" "$T/tend.conf" > "$T/tend-userdir.conf"
out=$(timeout 10 "$TENDD" -t -c "$T/tend-userdir.conf" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# tendd -t: /'
check "tendd -t refuses an nginx_upstream the app's user can write (exit 1)" test "$rc" = 1
check "saying which directory" grep -qF "$A" <<<"$out"
check "nothing was written there" test "$(readlink "$A/nginx/upstream.conf")" = "$V/public/data.txt"
attack_checks
done_testing
