#!/usr/bin/env bash
# tendctl metrics and metrics_file: Prometheus's text format, checked by
# promtool; per-instance labels with instances = 2; a crash counted; the
# state set follows a stop; deploy records counted by status (a real
# deploy as an unprivileged user, then one whose build fails); the file
# replaced in a root-only directory, readable by others, and a
# directory others may write refused by tendd -t and at run time, then
# written again once fixed.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
command -v promtool >/dev/null || { not_ok "promtool is installed (Debian package prometheus)"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/shop
user_repo "$SRC"
printf 'cp version.txt built.txt\n' > "$SRC/build.sh"
git_commit "$SRC" build
mkdir -p "$T/srv"
app_tree "$APPDIR"
mkdir -m 755 "$T/prom"
PROM=$T/prom/tend.prom
P=$(free_port)
Q=$(free_port)
TEND_EXTRA="metrics_file = $PROM
metrics_interval = 1s"
tend_conf <<CONF
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
instances = 2
min_ready = 200ms
min_uptime = 1s

[app:shop]
dir = $APPDIR
user = $APP_USER
repo = $SRC
build = sh build.sh
command = $NODE server.js
port = $Q
health = /health
ready_timeout = 20s
CONF
"$TENDD" -t -c "$T/tend.conf" >/dev/null 2>&1
check "tendd -t accepts metrics_file in a root-only directory" test $? = 0
tendd_start || { not_ok "tendd starts"; done_testing; }
check "web is live" wait_for live 10 state_is web live

M=$T/metrics.txt
metric() {	# metric NAME{LABELS}: its value in $M
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { exit !f }' "$M"
}
tctl metrics > "$M"
check "tendctl metrics exits 0" test $? = 0
check "promtool check metrics passes on tendctl metrics" promtool check metrics < "$M"
check "HELP and TYPE lines, tend_ prefix" grep -q '^# TYPE tend_instance_restarts_total counter$' "$M"
check "every sample is tend_" bash -c "! grep -v '^#' '$M' | grep -qv '^tend_'"
check "instance 0 of web is live" test "$(metric 'tend_instance_state{app="web",instance="0",state="live"}')" = 1
check "instance 1 of web is live" test "$(metric 'tend_instance_state{app="web",instance="1",state="live"}')" = 1
check "and not stopped" test "$(metric 'tend_instance_state{app="web",instance="1",state="stopped"}')" = 0
check "one state at a time per instance" test "$(grep -c '^tend_instance_state{app="web",instance="0",.*} 1$' "$M")" = 1
# Live after min_ready says nothing of how far node got: under load it
# may not have run since its exec, and has no page yet.
rss_counted() {
	tctl metrics > "$M" &&
	[ "$(metric 'tend_instance_resident_memory_bytes{app="web",instance="1"}')" -gt 1000000 ]
}
check "RSS of instance 1's tree is counted" wait_for "instance 1's RSS" 10 rss_counted
check "tendd's own RSS" test "$(metric tend_resident_memory_bytes)" -gt 100000
check "ready time of a live instance" grep -qE '^tend_instance_ready_seconds\{app="web",instance="0"\} [0-9]+\.[0-9]{3}$' "$M"
check "shop, never deployed, has no instance running" test "$(metric 'tend_instance_state{app="shop",instance="0",state="live"}')" = 0
check "and no deploy record" test "$(metric 'tend_app_deploys{app="shop",status="live"}')" = 0

# A crash of instance 0 (the first port) is counted on instance 0 only.
sleep 1.2	# past min_uptime: the restart comes at once
curl -s "127.0.0.1:$P/crash" >/dev/null
restarted() { tctl metrics > "$M" && [ "$(metric 'tend_instance_restarts_total{app="web",instance="0"}')" = 1 ]; }
check "restarts of instance 0 reach 1 after its crash" wait_for "restart counted" 10 restarted
check "instance 1 did not restart" test "$(metric 'tend_instance_restarts_total{app="web",instance="1"}')" = 0

# The file: written at once and every second, whole, readable by others.
check "metrics_file appears" wait_for "$PROM" 5 test -s "$PROM"
check "promtool check metrics passes on the file" promtool check metrics < "$PROM"
check "the file is root's, mode 0644" test "$(stat -c '%U %a' "$PROM")" = "root 644"
check "node-exporter's user could read it (as the app's user)" as_app cat "$PROM"
in_file() { grep -qxF "$1" "$PROM"; }
check "the file follows the crash" wait_for "file restarts" 5 in_file 'tend_instance_restarts_total{app="web",instance="0"} 1'
check "no temporary file left beside it" test "$(ls -A "$T/prom" | wc -l)" = 1

# A stop shows in the state set, instance by instance.
tctl stop web >/dev/null
both_stopped() {
	in_file 'tend_instance_state{app="web",instance="0",state="stopped"} 1' &&
	in_file 'tend_instance_state{app="web",instance="1",state="stopped"} 1'
}
check "after stop, both instances are stopped in the file" wait_for "stopped in file" 5 both_stopped
check "and their RSS is 0" in_file 'tend_instance_resident_memory_bytes{app="web",instance="1"} 0'

# Deploys, as the app's user: one live, one whose build fails.
tctl deploy shop >/dev/null 2>&1
check "the first deploy of shop goes live" test $? = 0
printf 'exit 1\n' > "$SRC/build.sh"
git_commit "$SRC" "a broken build"
tctl deploy shop >/dev/null 2>&1
check "the second deploy fails" test $? = 1
tctl metrics > "$M"
check "promtool still passes with deploy records" promtool check metrics < "$M"
check "deploys by status: live 1" test "$(metric 'tend_app_deploys{app="shop",status="live"}')" = 1
check "deploys by status: build-failed 1" test "$(metric 'tend_app_deploys{app="shop",status="build-failed"}')" = 1
check "deploys by status: ready 0" test "$(metric 'tend_app_deploys{app="shop",status="ready"}')" = 0
check "last deploy duration is there" grep -qE '^tend_app_last_deploy_duration_seconds\{app="shop"\} [0-9]+\.[0-9]{3}$' "$M"
check "shop's instance 0 is live" test "$(metric 'tend_instance_state{app="shop",instance="0",state="live"}')" = 1

# A directory others may write: tendd -t refuses it, the daemon says so
# once and goes on; fixed, the file is written again.
chmod 777 "$T/prom"
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1)
rc=$?
check "tendd -t refuses metrics_file in a directory others can write" test "$rc" = 1
check "naming metrics_file and why" grep -q 'metrics_file: .*writable by every user' <<<"$out"
# Debian's case: node-exporter's directory is root's, but the one above
# it another user's (/var/lib/prometheus is prometheus's): refused too.
mkdir -p "$T/theirs/node-exporter"
chown "$APP_USER" "$T/theirs"
sed "s|^metrics_file = .*|metrics_file = $T/theirs/node-exporter/tend.prom|" "$T/tend.conf" > "$T/theirs.conf"
out=$("$TENDD" -t -c "$T/theirs.conf" 2>&1)
rc=$?
check "tendd -t refuses metrics_file below another user's directory" test "$rc" = 1
check "saying whose it is" grep -q "metrics_file: .*theirs belongs to uid $APP_UID" <<<"$out"
rm -f "$PROM"
check "tendd logs the refusal" wait_for "refusal logged" 5 grep -q 'metrics_file: .*writable by every user' "$T/tendd.log"
check "and writes nothing there" test ! -e "$PROM"
sleep 1.5	# another write fails meanwhile
check "logged once, not at every write" test "$(grep -c 'metrics_file: .*writable' "$T/tendd.log")" = 1
check "tendd still answers" tctl status
chmod 755 "$T/prom"
check "written again once the directory is fixed" wait_for "file again" 5 test -s "$PROM"
check "and tendd says so" wait_for "written again logged" 5 grep -q 'metrics_file: .* written again' "$T/tendd.log"

# Without metrics_file (reread), the file is no longer written.
sed -n '/^\[app:web\]/,$p' "$T/tend.conf" > "$T/apps.conf"
TEND_EXTRA= tend_conf < "$T/apps.conf"
check "reread without metrics_file" tctl reread
rm -f "$PROM"
sleep 1.5	# a written file would be back within metrics_interval (1s)
check "after it, no file" test ! -e "$PROM"
check "tendctl metrics takes no app" bash -c "! '$TENDCTL' -c '$T/tend.conf' metrics web 2>/dev/null"
done_testing
