#!/usr/bin/env bash
# The app's user makes its env_file a symbolic link to a root-only file
# that looks like a .env (root's secret, mode 0600).  tendd reads
# env_file as the user, so the kernel refuses: the app fails with the
# reason in status, the secret is nowhere (not in the app's environment,
# status, logs), tendd -t reports the problem and exits 1, and every
# other app starts, runs and follows a reread.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
mkdir -p "$T/srv"
A=$T/srv/web
app_tree "$A"
install -o "$APP_USER" -g "$APP_USER" -m 644 "$SERVER" "$A/server.js"
# The attack: shared/.env is root's secret.
as_app ln -sfn "$V/secret" "$A/shared/.env"
P=$(free_port); P3=$(free_port)
conf() {
	{
		cat <<EOF
[app:web]
dir = $A
user = $APP_USER
env_file = $A/shared/.env
command = $NODE server.js
port = $P
health = /health

EOF
		other_conf
		printf '%s\n' "$@"
	} | tend_conf
}
conf

out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# tendd -t: /'
check "tendd -t exits 1" test "$rc" = 1
check "and names the env_file" grep -qF "$A/shared/.env" <<<"$out"
check "without the secret's value" bash -c "! grep -qF '$SECRET' <<<\"\$1\"" _ "$out"

tendd_start || { not_ok "tendd starts with one app's env_file refused"; done_testing; }
if other_up; then ok "the other app goes live"; else not_ok "the other app goes live"; fi
check "web is failed" wait_for "web failed" 10 state_is web failed
reason=$(json web reason)
echo "# reason: $reason"
check "its reason names the env_file" grep -qF "$A/shared/.env" <<<"$reason"
check "and says it may not be read" grep -qiE 'permission denied|not readable|cannot read|refused' <<<"$reason"
check "web has no process" test "$(json web pid)" = null
check "nothing runs as the app's user" bash -c "! pgrep -u '$APP_USER' >/dev/null"

out=$(timeout 10 "$TENDCTL" -c "$T/tend.conf" start web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# start web: /'
check "tendctl start web fails (exit 1)" test "$rc" = 1
check "and is still refused" state_is web failed

# A reread with a new app: it starts; web stays failed, other untouched.
conf "[app:third]" "dir = $T/other" "command = $NODE server.js" "port = $P3" "health = /health"
out=$(timeout 10 "$TENDCTL" -c "$T/tend.conf" reread 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# reread: /'
check "the reread applies to the others: third goes live" wait_for "third live" 15 state_is third live
check "web is still failed" state_is web failed
attack_checks
done_testing
