#!/usr/bin/env bash
# backup_before_migrate for an app with user =: pg_dump runs as the app's
# user and group, with the password only in its environment (in no
# command line, in no log); tendd creates the dump itself in its root-only
# directory and hands it to pg_dump as stdout, so the dump is root's,
# mode 0600, readable by pg_restore; pg_dump's errors are 'backup' lines
# of the app log and a failed dump leaves no file; a backup directory the
# app's user could write, or one reached through a symlink, is refused.
. "$(dirname "$0")/../lib.sh"
app_user || { not_ok "app user"; done_testing; }
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
# A password every encoding of which is easy to look for.
SECRET=Dq7-$RANDOM$RANDOM
PW="p@ss:$SECRET"
ENC="p%40ss%3A$SECRET"
$PSQL -c "ALTER USER app PASSWORD '$PW'" \
    -c "CREATE DATABASE locked OWNER postgres" >/dev/null
$PSQL -d shop -c "CREATE TABLE blocker (x int)" -c "ALTER TABLE blocker OWNER TO app" >/dev/null
$PSQL -d locked -c "GRANT CONNECT, CREATE ON DATABASE locked TO app" \
    -c "CREATE TABLE private (x int)" >/dev/null
mkdir -p "$T/app" "$T/userbackups" && chown "$APP_USER:" "$T/app" "$T/userbackups"
# The app's user plants a link in its own directory towards a root-only
# one: whoever can replace the link decides where root would write.
mkdir -p "$T/real" && as_app ln -s "$T/real" "$T/app/link"
MIG="sh $SRCDIR/tests/app/migrate.sh"
app() {	# NAME DATABASE BACKUP_DIR
	cat <<EOF
[app:$1]
dir = $T/app
user = $APP_USER
command = $NODE $SERVER
env = DATABASE_URL=postgres://app:$ENC@127.0.0.1:$PGPORT/$2
migrate = $MIG
backup_before_migrate = $3
autostart = no

EOF
}
{
	app shop shop "$T/backups"
	app denied locked "$T/backups"
	app userdir shop "$T/userbackups"
	app linked shop "$T/app/link/backups"
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }

# pg_dump waits for a lock this session holds: time to look at it.
coproc HOLD { $PSQL -d shop -At; }
echo "BEGIN; LOCK TABLE blocker IN ACCESS EXCLUSIVE MODE; SELECT 'held';" >&"${HOLD[1]}"
read -r -t 10 line <&"${HOLD[0]}"
check "a session holds a lock pg_dump will wait for" test "${line:-}" = held
tctl start --no-wait shop >/dev/null
dump_pid() { ps -eo pid=,args= | awk '/[p]g_dump --format=custom/ { print $1; exit }'; }
wait_for "pg_dump" 15 bash -c "ps -eo args= | grep -q '[p]g_dump --format=custom'"
pid=$(dump_pid)
check "pg_dump runs (pid ${pid:-none})" test -n "$pid"
ps -o pid=,uid=,gid=,args= -p "${pid:-1}" | sed 's/^/# ps: /'
check "as the app's user" test "$(ps -o uid= -p "${pid:-1}" | tr -d ' ')" = "$APP_UID"
check "and group" test "$(ps -o gid= -p "${pid:-1}" | tr -d ' ')" = "$APP_GID"
ps_clean() {
	local a
	a=$(ps -eo args=)
	! grep -qF -e "$SECRET" -e "p%40ss" <<<"$a"
}
check "no command line holds the password, in any encoding" ps_clean
check "its connection is the URL's parts" bash -c "ps -o args= -p $pid | grep -q -- \"--dbname=host='127.0.0.1' port='$PGPORT' user='app' dbname='shop'\""
out=$(readlink "/proc/$pid/fd/1")
check "its stdout is the file tendd opened in root's directory ($out)" bash -c "[[ '$out' == $T/backups/.shop-*.dump.part ]]"
envf=$(tr '\0' '\n' < "/proc/$pid/environ")
check "the password is in its environment only" grep -qxF "PGPASSWORD=$PW" <<<"$envf"
check "with no password file" grep -qx 'PGPASSFILE=/dev/null/none' <<<"$envf"
check "the app's user cannot look into the backup directory" bash -c "! runuser -u $APP_USER -- ls '$T/backups' 2>/dev/null"
printf "COMMIT;\n\\q\n" >&"${HOLD[1]}"
wait_for "shop live" 30 state_is shop live
check "the dump done, the migration ran and the app is live" state_is shop live
dump=$(json shop backup.file)
check "pg_restore --list reads the dump ($dump)" bash -c "pg_restore --list '$dump' | grep -q '^;     dbname: shop'"
check "it is root's, mode 0600" test "$(stat -c '%U %a' "$dump")" = "root 600"
check "in a directory only root can enter" test "$(stat -c '%U %a' "$T/backups")" = "root 700"
check "no temporary file is left" bash -c "! ls -A '$T/backups' | grep -q part"
check "the log says so" grep -q "backup: $dump (" "$T/log/shop.log"

# pg_dump fails (a table the user may not read): its errors are backup
# lines, the part file goes, the migration does not run.
out=$(tctl start denied 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a failing pg_dump fails the start (exit 1)" test "$rc" = 1
check "the reason has pg_dump's exit and last words" grep -q 'backup failed, so the migration did not run: pg_dump exited with code 1: .*permission denied' <<<"$(json denied reason)"
check "pg_dump's stderr is in the app log as backup lines" grep -q ' backup pg_dump: error: .*permission denied' "$T/log/denied.log"
check "no file of it is left" bash -c "! ls -A '$T/backups' | grep -q denied"
check "the migration did not run" bash -c "! grep -q 'migrate: started' '$T/log/denied.log'"

out=$(tctl start userdir 2>&1); rc=$?
check "a backup directory the app's user owns is refused (exit 1)" test "$rc" = 1
check "saying why" grep -q 'backup failed, so the migration did not run: .*belongs to uid' <<<"$(json userdir reason)"
check "nothing was written there" test -z "$(ls -A "$T/userbackups")"
out=$(tctl start linked 2>&1); rc=$?
check "a backup directory behind a symlink is refused (exit 1)" test "$rc" = 1
check "saying why" grep -q 'backup failed, so the migration did not run: .*belongs to uid' <<<"$(json linked reason)"
check "and made nothing behind it" test -z "$(ls -A "$T/real")"

check "the password is in no log" bash -c "! grep -rqF -e '$SECRET' -e 'p%40ss' '$T/log' '$T/tendd.log'"
check "nor in status" bash -c "! '$TENDCTL' -c '$T/tend.conf' status --json | grep -qF -e '$SECRET' -e 'p%40ss'"
done_testing
