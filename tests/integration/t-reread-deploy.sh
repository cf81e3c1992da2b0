#!/usr/bin/env bash
# A reread while a deploy builds: the app's changed section is applied
# after the deploy ends; the live instance is never stopped meanwhile,
# and the app stays known to every command.  The build waits for the
# test's signal (a file), so the reread lands in it for sure; the server
# ignores SIGTERM, so each stop takes kill_timeout and a moment when the
# app is unknown could not slip between two looks.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
SRC=$T/src
user_repo "$SRC"
cat > "$SRC/build.sh" <<EOF
echo "building \$(cat version.txt)"
if [ -f SLOW_BUILD ]; then
	i=0
	while [ ! -e "$T/go" ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done
	echo "build released"
fi
EOF
git_commit "$SRC" "build script"
mkdir -p "$T/srv" "$T/nginx"
A=$T/srv/web
app_tree "$A"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
conf() {	# MARK
	{
		cat <<EOF
[app:web]
dir = $A
repo = $SRC
user = $APP_USER
shared = .env
env_file = $A/shared/.env
env = MARK=$1
env = IGNORE_TERM=1
build = sh build.sh
command = $NODE server.js
port = $P
health = /health
ready_timeout = 10s
kill_timeout = 2s
nginx_upstream = $T/nginx/upstream-web.conf
nginx_test = true
nginx_reload = true
drain_timeout = 200ms

EOF
		other_conf
	} | tend_conf
}
conf one
tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"
out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# v1: /'
check "the first deploy exits 0" test "$rc" = 0
livepid=$(json web pid)
[ "$livepid" != null ] || { not_ok "web runs"; done_testing; }
port_of() { curl -s --max-time 2 "http://127.0.0.1:$1/env?name=MARK"; }
check "the live instance has MARK=one" test "$(port_of "$P")" = one

# v2 with a build that waits; the reread lands during it.
echo v2 > "$SRC/version.txt"; touch "$SRC/SLOW_BUILD"; git_commit "$SRC" "v2, slow build"
tctl deploy web >"$T/deploy.out" 2>&1 &
dep=$!
on_exit "touch $T/go"
building() { [ "$(tctl releases web --json | jq -r '.releases[0].status')" = building ] && grep -q 'building v2' "$T/log/web.log"; }
check "the deploy is building" wait_for "the build" 30 building
conf two
out=$(timeout 10 "$TENDCTL" -c "$T/tend.conf" reread 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# reread: /'
check "tendctl reread during the build exits 0" test "$rc" = 0
# Through the rest of the build: the live instance keeps its pid and the
# app is known to status and releases.
known=1 same=1 n=0
end=$(( $(now_ms) + 2000 ))
while [ "$(now_ms)" -lt "$end" ]; do
	st=$(timeout 2 "$TENDCTL" -c "$T/tend.conf" status web --json 2>/dev/null)
	jq -e '.apps[]? | select(.name == "web")' <<<"$st" >/dev/null 2>&1 || known=0
	timeout 2 "$TENDCTL" -c "$T/tend.conf" releases web --json >/dev/null 2>&1 || known=0
	kill -0 "$livepid" 2>/dev/null || same=0
	[ "$(jq -r '.apps[]? | select(.name == "web") | .pid' <<<"$st" 2>/dev/null)" = "$livepid" ] || same=0
	n=$((n + 1))
	sleep 0.1
done
check "web stays known to status and releases during the build ($n looks)" test "$known" = 1
check "the live instance keeps running, same pid, during the build" test "$same" = 1
check "and still has the old settings (MARK=one)" test "$(port_of "$P")" = one
check "the deploy was not canceled by the reread" building

# From here until the change is applied, web stays known: a script's
# `tendctl deploy web && tendctl releases web` must not be told there is
# no such app while the new settings take over.
(
	end=$(( $(now_ms) + 30000 ))
	while [ ! -e "$T/poll.stop" ] && [ "$(now_ms)" -lt "$end" ]; do
		timeout 2 "$TENDCTL" -c "$T/tend.conf" releases web --json >/dev/null 2>"$T/poll.err" ||
		    { echo "$(now_ms) releases: $(cat "$T/poll.err")" >> "$T/poll.miss"; }
		timeout 2 "$TENDCTL" -c "$T/tend.conf" status web --json 2>/dev/null |
		    jq -e '.apps[]? | select(.name == "web")' >/dev/null 2>&1 ||
		    echo "$(now_ms) status: no web" >> "$T/poll.miss"
	done
) &
poller=$!
on_exit "touch $T/poll.stop"
touch "$T/go"
wait "$dep"; rc=$?
sed 's/^/# v2: /' "$T/deploy.out"
check "the deploy ends live (exit 0)" test "$rc" = 0
marked() {	# the port set nginx is sent to serves v2 with MARK=two
	local p
	p=$(sed -n 's/^[[:space:]]*server 127.0.0.1:\([0-9]*\);$/\1/p' "$T/nginx/upstream-web.conf" | head -n 1)
	[ "$(port_of "$p")" = two ] && curl -s --max-time 2 "http://127.0.0.1:$p/" | grep -q '^hello v2 '
}
check "after the deploy the change is applied: v2 serves with MARK=two" wait_for "MARK=two" 20 marked
touch "$T/poll.stop"
wait "$poller"
check "web stayed known to status and releases until then" test ! -s "$T/poll.miss"
[ -s "$T/poll.miss" ] && head -n 3 "$T/poll.miss" | sed 's/^/#   /'
check "web is live" wait_for "web live" 10 state_is web live
attack_checks
done_testing
