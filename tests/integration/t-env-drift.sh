#!/usr/bin/env bash
# The app's user edits its .env while the app runs: status says which
# variables changed (names, never values) until a restart applies them;
# the restart says which it applied, and the new process has the new
# value.  A touch that changes nothing, a reread that changes nothing,
# and the other app show no change; a FIFO or an unreadable file in
# place of the .env shows as such at once, without blocking status.  A
# deploy, too, starts with the current file and logs what changed.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
A=$T/srv/web; B=$T/srv/calm; D=$T/srv/dep; SRC=$T/src
mkdir -p "$T/srv"
user_repo "$SRC"
install -d -o "$APP_USER" -g "$APP_USER" -m 755 "$D" "$D/shared"
rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
OLD=old$(rnd); NEW=new$(rnd); ADDED=added$(rnd); CORS=cors$(rnd)
for d in "$A" "$B"; do
	app_tree "$d"
	install -o "$APP_USER" -g "$APP_USER" -m 644 "$SERVER" "$d/server.js"
done
envfile() {	# DIR JWT [extra line]: the .env, written as the app's user
	as_app sh -c 'printf "GREETING=hello\nJWT_SECRET=%s\nSTORE_CORS=%s\n%s" "$1" "$2" "$3" > "$4.tmp" && mv "$4.tmp" "$4"' \
	    sh "$2" "$CORS" "${3:-}" "$1/shared/.env"
}
envfile "$A" "$OLD"
envfile "$B" "$OLD"
envfile "$D" "$OLD"
P=$(free_port); Q=$(free_port); R=$(free_port)
tend_conf <<EOF
[app:web]
dir = $A
user = $APP_USER
env_file = $A/shared/.env
env = NODE_ENV=production
command = $NODE server.js
port = $P
health = /health
min_ready = 200ms

[app:calm]
dir = $B
user = $APP_USER
env_file = $B/shared/.env
command = $NODE server.js
port = $Q
health = /health
min_ready = 200ms

[app:dep]
dir = $D
repo = $SRC
user = $APP_USER
env_file = $D/shared/.env
build = true
command = $NODE server.js
port = $R
health = /health
min_ready = 200ms
EOF
tendd_start || { not_ok "tendd starts"; done_testing; }
check "web goes live" wait_for "web live" 15 state_is web live
check "calm goes live" wait_for "calm live" 15 state_is calm live

changed() { json "$1" 'env_changed // [] | join(",")'; }
has_no_drift() { [ "$(json "$1" 'env_changed')" = null ]; }
changed_is() { [ "$(changed "$1")" = "$2" ]; }
check "no change reported at start" has_no_drift web
tctl reread >/dev/null
check "a reread that changes nothing shows no change" has_no_drift web
as_app touch "$B/shared/.env"
check "a touch that changes no variable shows no change" has_no_drift calm

# The edit: one value changes, one variable is added.
envfile "$A" "$NEW" "NEW_VAR=$ADDED
"
if wait_for "status to name the changed variables" 10 \
    changed_is web "JWT_SECRET,NEW_VAR"; then
	ok "status --json names exactly the changed variables"
else
	not_ok "status --json names exactly the changed variables" \
	    "env_changed: $(changed web)"
fi
table=$(tctl status)
printf '%s\n' "$table" | sed 's/^/# /'
check "the table says to restart, with the names" grep -qF \
    "env changed: restart to apply (JWT_SECRET, NEW_VAR)" <<<"$table"
check "the other app shows no change" has_no_drift calm
check "status is the same again (the verdict is kept)" \
    changed_is web "JWT_SECRET,NEW_VAR"
status_fast "status answers within 1 s"

no_values() {	# DESC TEXT
	if grep -qF -e "$OLD" -e "$NEW" -e "$ADDED" -e "$CORS" <<<"$2"; then
		not_ok "$1" "a value of the .env is in it"
	else
		ok "$1"
	fi
}
no_values "status --json holds no value" "$(tctl status --json)"
no_values "the status table holds no value" "$table"

pid=$(json web pid)
out=$(tctl restart web 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# restart: /'
check "tendctl restart web succeeds" test "$rc" = 0
check "and says which variables it applied" grep -qF \
    "added NEW_VAR; changed JWT_SECRET" <<<"$out"
no_values "the restart's answer holds no value" "$out"
check "web is live again" wait_for "web live" 15 state_is web live
check "with a new process" test "$(json web pid)" != "$pid"
check "the restart clears the change" has_no_drift web
pid=$(json web pid)
environ() { tr '\0' '\n' < "/proc/$pid/environ"; }
check "the new process has the new value" grep -qx "JWT_SECRET=$NEW" <(environ)
check "and the added variable" grep -qx "NEW_VAR=$ADDED" <(environ)
applog=$(json web log_file)
check "the app's log names the changed variables" grep -qF \
    "environment changed since it was last read: added NEW_VAR; changed JWT_SECRET" "$applog"
check "tendd's log names them" grep -qF \
    "web: environment changed since it was last read: added NEW_VAR; changed JWT_SECRET" "$T/tendd.log"
no_values "tendd's log holds no value" "$(cat "$T/tendd.log")"
no_values "the app's log holds no value" "$(cat "$applog")"

# Read as the app's user: a .env it made unreadable to itself counts.
as_app chmod 000 "$A/shared/.env"
unreadable_says() { json web env_unreadable | grep -qF "$1"; }
table_says() { tctl status | grep -qF "$1"; }
check "an unreadable .env shows as changed" wait_for "env_unreadable" 10 \
    unreadable_says "$A/shared/.env: Permission denied"
check "with no names" test "$(json web 'env_changed | length')" = 0
check "the table says the file is unreadable" table_says \
    "env changed: file unreadable ($A/shared/.env: Permission denied)"
as_app chmod 600 "$A/shared/.env"
check "readable again and unchanged: no change" wait_for "no drift" 10 has_no_drift web

# A FIFO in its place: never opened, status does not block.
as_app mv "$A/shared/.env" "$A/shared/.env.keep"
as_app mkfifo "$A/shared/.env"
on_exit "python3 -c 'import os,sys; os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)' $A/shared/.env"
status_fast "status answers within 1 s with a FIFO for the .env"
check "a FIFO shows as not a regular file" \
    unreadable_says "$A/shared/.env: not a regular file"
as_app rm "$A/shared/.env"
as_app mv "$A/shared/.env.keep" "$A/shared/.env"
check "the file back: no change" wait_for "no drift" 10 has_no_drift web
check "the other app kept running" state_is calm live

# A deploy starts with the current file too, and logs what changed.
out=$(tctl deploy dep 2>&1) || { printf '%s\n' "$out" | sed 's/^/# /'; }
check "dep is deployed" wait_for "dep live" 15 state_is dep live
envfile "$D" "$NEW"
check "status names the variable changed under dep" wait_for "dep drift" 10 \
    changed_is dep JWT_SECRET
out=$(tctl deploy dep 2>&1); rc=$?
printf '%s\n' "$out" | tail -n 3 | sed 's/^/# deploy: /'
check "the next deploy ends live" test "$rc" = 0
check "and clears the change" has_no_drift dep
pid=$(json dep pid)
check "its process has the new value" grep -qx "JWT_SECRET=$NEW" <(environ)
check "its log says which variable changed" grep -qF \
    "environment changed since it was last read: changed JWT_SECRET" \
    "$(json dep log_file)"
no_values "the deploy's output holds no value" "$out"
no_values "tendd's log still holds no value" "$(cat "$T/tendd.log")"
done_testing
