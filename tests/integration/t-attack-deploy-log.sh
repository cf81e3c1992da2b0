#!/usr/bin/env bash
# The app's user knows the commit the next deploy will build, so the name
# of its release (<UTC second>-<short sha>), and plants a symbolic link
# for each of the coming seconds' deploy logs in dir/releases, aimed at
# root's files.  Deploy logs are tend's own (log_dir/APP.deploys/ID.log,
# root's): the deploy goes live and no root file is written or created.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
SRC=$T/src
user_repo "$SRC"
mkdir -p "$T/srv"
A=$T/srv/web
app_tree "$A"
P=$(free_port)
{
	cat <<EOF
[app:web]
dir = $A
repo = $SRC
user = $APP_USER
shared = .env
env_file = $A/shared/.env
command = $NODE server.js
port = $P
health = /health
ready_timeout = 10s

EOF
	other_conf
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"

# plant: links named like the deploy logs of the next minute, every
# other one at root's secret, the rest at a file root would create.
plant() {
	local sha7 now s name
	sha7=$(git -C "$SRC" rev-parse HEAD | cut -c1-7)
	now=$(date -u +%s)
	as_app mkdir -p "$A/releases"
	for s in $(seq $((now - 2)) $((now + 60))); do
		name=$(date -u -d "@$s" +%Y%m%dT%H%M%SZ)-$sha7.log
		if [ $((s % 2)) = 0 ]; then
			as_app ln -sfn "$V/secret" "$A/releases/$name"
		else
			as_app ln -sfn "$V/public/planted-$s" "$A/releases/$name"
		fi
	done
}
deploy_ok() {	# VERSION: a deploy with the links in place goes live
	local out rc rel
	plant
	out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $1: /"
	check "$1: the deploy goes live despite the planted links (exit $rc)" test "$rc" = 0
	rel=$(json web release)
	check "$1: web serves it" wait_for "web $1" 10 bash -c "curl -s --max-time 2 http://127.0.0.1:$P/ | grep -q '^hello $1 '"
	check "$1: its log is tend's: log_dir/web.deploys/$rel.log, root's, a regular file" \
	    test "$(stat -c '%U %F' "$T/log/web.deploys/$rel.log" 2>&1)" = "root regular file"
	check "$1: the log says what the deploy did" grep -q "$rel" "$T/log/web.deploys/$rel.log"
	check "$1: no deploy log is written in the user's releases/" \
	    bash -c "[ -z \"\$(find '$A/releases' -maxdepth 1 -name '*.log' -type f)\" ]"
	victim_intact "$1: root's files are untouched"
}
deploy_ok v1
echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
deploy_ok v2
attack_checks
done_testing
