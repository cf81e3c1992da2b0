# tests/lib.sh: sourced by every integration test.  A private directory,
# a tendd of the test's own on a socket inside it, helpers that wait on a
# condition with a deadline (never a bare sleep), and TAP-like results:
# each check prints exactly one "ok - ..." or "not ok - ..." line.
set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILDDIR=${BUILDDIR:-$SRCDIR}
TENDD=${TENDD:-$BUILDDIR/src/tendd}
TENDCTL=${TENDCTL:-$BUILDDIR/src/tendctl}
NODE=${NODE:-$(command -v node)}
SERVER=$SRCDIR/tests/app/server.js

T=$(mktemp -d /tmp/tend-test.XXXXXX)
chmod 755 "$T"
TENDD_PID=
FAILED=0
CLEANUPS=()

cleanup() {
	local c
	for c in "${CLEANUPS[@]}"; do eval "$c" 2>/dev/null || true; done
	if [ -n "$TENDD_PID" ] && kill -0 "$TENDD_PID" 2>/dev/null; then
		kill -TERM "$TENDD_PID" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$TENDD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TENDD_PID" 2>/dev/null || true
	fi
	# Anything a test started from $T and left behind.
	pkill -KILL -f "$T" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
# Killed (tests/run's timeout sends TERM), a test cleans up too: what it
# made may be outside $T (a fleet test's network namespaces and bridge).
trap 'exit 143' TERM
trap 'exit 130' INT

on_exit() { CLEANUPS+=("$1"); }

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1"
	FAILED=1
	shift
	local l
	for l in "$@"; do echo "# $l"; done
}

# check DESC CMD...: one result line for CMD's exit status.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "command: $*"
		[ -n "$out" ] && printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
	fi
	return 0
}

# wait_for DESC TIMEOUT_S CMD...: poll every 50 ms until CMD succeeds.
wait_for() {
	local desc=$1 timeout=$2 end
	shift 2
	end=$(( $(date +%s%N) / 1000000 + timeout * 1000 ))
	while ! "$@" >/dev/null 2>&1; do
		if [ $(( $(date +%s%N) / 1000000 )) -ge "$end" ]; then
			echo "# timed out after ${timeout}s waiting for $desc"
			[ -f "$T/tendd.log" ] && tail -n 15 "$T/tendd.log" | sed 's/^/# tendd: /'
			return 1
		fi
		sleep 0.05
	done
	return 0
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# tend_conf: writes $T/tend.conf: a [tend] section under $T (plus the
# lines in $TEND_EXTRA), then stdin.
tend_conf() {
	{
		printf '[tend]\nsocket = %s/tend.sock\nstate_dir = %s/state\nlog_dir = %s/log\n' "$T" "$T" "$T"
		printf '%s\n\n' "${TEND_EXTRA:-}"
		cat
	} > "$T/tend.conf"
}

# flood_conf N SETTINGS [SECTIONS]: tend.conf with SETTINGS in [tend] and
# an app, flood, that writes N numbered ~100-byte lines and stops; then
# SECTIONS (more apps), if given.
flood_conf() {
	printf '[app:flood]\ndir = %s/tests/app\ncommand = %s server.js\nenv = FLOOD_LINES=%s\nenv = FLOOD_EXIT=1\nrestart = never\nmin_ready = 100ms\n\n%s\n' \
	    "$SRCDIR" "$NODE" "$1" "${3:-}" | TEND_EXTRA=$2 tend_conf
}

tctl() { "$TENDCTL" -c "$T/tend.conf" "$@"; }

tendd_start() {
	"$TENDD" -f -c "$T/tend.conf" "$@" >>"$T/tendd.log" 2>&1 &
	TENDD_PID=$!
	wait_for "tendd to answer" 10 tctl status
}

# json APP FIELD: a field of one app from status --json ("null" if none).
json() { tctl status --json | jq -r --arg a "$1" ".apps[] | select(.name == \$a) | .$2"; }
state_is() { [ "$(json "$1" state)" = "$2" ]; }

# A free loopback TCP port, not one of $RESERVED_PORTS (ports a test
# has handed out but nothing listens on yet).  Deploy tests use port + 100
# too, which stays below 32768 as well.
free_port() {
	local p
	while :; do
		# Below the kernel's ephemeral range (32768-60999): a port
		# there may be taken by any outgoing connection's local end
		# (a health check's) between this choice and the bind.
		p=$(( 20000 + RANDOM % 11000 ))
		case " ${RESERVED_PORTS:-} " in *" $p "*) continue ;; esac
		# Not one handed out before in this test: it runs in a
		# subshell, so the memory is a file.
		grep -qx "$p" "$T/.ports" 2>/dev/null && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p" >> "$T/.ports"
			echo "$p"
			return
		fi
	done
}

# The pids of every process in process group $1.
group_pids() { ps -eo pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }'; }

done_testing() { [ -n "${KEEP:-}" ] && cp -r "$T" "$KEEP"; exit "$FAILED"; }

# pg_start: a private PostgreSQL on a loopback port, run as the postgres
# user (initdb refuses root); user app / password apppass, database shop.
# Sets PGPORT; stopped at exit.  Extra server options in $PG_OPTS.
pg_start() {
	local bin v
	v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
	bin=/usr/lib/postgresql/$v/bin
	[ -x "$bin/initdb" ] || { echo "# PostgreSQL is not installed"; return 1; }
	PGPORT=$(free_port)
	mkdir -p "$T/pg" && chown postgres "$T/pg" && chmod 700 "$T/pg"
	printf 'pgsuper\n' > "$T/pgpw" && chown postgres "$T/pgpw"
	runuser -u postgres -- "$bin/initdb" -D "$T/pg" -U postgres \
	    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$T/pgpw" \
	    >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log"; return 1; }
	runuser -u postgres -- "$bin/pg_ctl" -D "$T/pg" -l "$T/pg/server.log" -w \
	    -o "-p $PGPORT -k $T/pg -c listen_addresses=127.0.0.1 ${PG_OPTS:-}" \
	    start >/dev/null || { tail "$T/pg/server.log"; return 1; }
	on_exit "runuser -u postgres -- $bin/pg_ctl -D $T/pg -m immediate stop >/dev/null 2>&1"
	PSQL="runuser -u postgres -- psql -h $T/pg -p $PGPORT -U postgres -X -q"
	$PSQL -c "CREATE USER app PASSWORD 'apppass'" -c "CREATE DATABASE shop OWNER app" >/dev/null
}

# black_hole: $HOLE, a loopback port whose connections queue in the
# kernel and are never accepted: a server that does not answer.
black_hole() {
	HOLE=$(free_port)
	python3 - "$HOLE" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)          # connections queue in the kernel; none is accepted
time.sleep(120)
PY
	on_exit "kill $!"
	wait_for "black hole" 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HOLE"
}

# redis_start: a private Redis on a loopback port with password rpass.
redis_start() {
	command -v redis-server >/dev/null || { echo "# redis-server is not installed"; return 1; }
	RPORT=$(free_port)
	redis-server --port "$RPORT" --bind 127.0.0.1 --requirepass rpass \
	    --save '' --appendonly no --dir "$T" >"$T/redis.log" 2>&1 &
	local p=$!
	on_exit "kill $p"
	wait_for "redis" 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RPORT"
}

# nginx_start UPSTREAM_FILE APP: a private nginx on a loopback port
# ($NGPORT) proxying to upstream tend_APP, which tend writes to
# UPSTREAM_FILE; NGINX_TEST and NGINX_RELOAD are the commands for tend.
# Stopped at exit.  With libnginx-mod-http-lua installed it loads the lua
# module, which nginx_switch = lua needs; NGINX_WORKERS (default 1) sets
# worker_processes.  NGINX_NETNS: start it in that network namespace,
# listening on NGINX_ADDR (default 127.0.0.1).
nginx_start() {
	command -v nginx >/dev/null || { echo "# nginx is not installed"; return 1; }
	NGPORT=$(free_port)
	local d=$T/nginx m=/usr/lib/nginx/modules mods=
	mkdir -p "$d/tmp"
	[ -f $m/ngx_http_lua_module.so ] &&
	    mods="load_module $m/ndk_http_module.so;
load_module $m/ngx_http_lua_module.so;"
	cat > "$d/nginx.conf" <<NGINX
$mods
worker_processes ${NGINX_WORKERS:-1};
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	include $1;
	server {
		listen ${NGINX_ADDR:-127.0.0.1}:$NGPORT;
		location / {
			proxy_pass http://tend_$2;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
NGINX
	NGINX_TEST="nginx -t -q -c $d/nginx.conf -p $d/"
	NGINX_RELOAD="nginx -s reload -c $d/nginx.conf -p $d/"
	${NGINX_NETNS:+ip netns exec "$NGINX_NETNS"} nginx -c "$d/nginx.conf" -p "$d/" 2>>"$d/error.log" || { tail "$d/error.log"; return 1; }
	on_exit "nginx -s stop -c $d/nginx.conf -p $d/ 2>/dev/null; sleep 0.2; pkill -KILL -f 'nginx.*$d' 2>/dev/null"
	wait_for "nginx" 10 bash -c "exec 3<>/dev/tcp/${NGINX_ADDR:-127.0.0.1}/$NGPORT"
}

# load SECONDS OUTFILE: wrk on nginx (1 thread, 4 connections, loopback,
# bounded in time), in the background; $LOAD_PID.  Each request on a
# connection of its own: nginx's reload closes idle keep-alive client
# connections, and a client that sends on one at that instant sees a
# reset whatever the backend does (browsers retry such a request); that
# race is nginx's, not the switch's, so it is kept out of the count.
# load_result OUTFILE: "NON2XX ERRORS".
load() {
	wrk -t1 -c4 -d"$1"s --timeout 2s -H 'Connection: close' \
	    "http://127.0.0.1:$NGPORT/" >"$2" 2>&1 &
	LOAD_PID=$!
}
load_result() {
	local non2xx errs
	non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1")
	errs=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$1" |
	    awk '{ print $1 + $2 + $3 + $4 }')
	echo "${non2xx:-0} ${errs:-0}"
}
load_requests() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1"; }

# git_repo DIR: a repository holding the test server, version v1.
git_repo() {
	mkdir -p "$1"
	cp "$SERVER" "$1/server.js"
	echo v1 > "$1/version.txt"
	git -C "$1" init -q -b main
	git_commit "$1" v1
}
# git_commit DIR MESSAGE: commit everything in DIR.
git_commit() {
	git -C "$1" add -A
	git -C "$1" -c user.name=tend-test -c user.email=test@localhost \
	    commit -q -m "$2"
}

# app_user [NAME]: a real unprivileged system user and group for the
# test's app, $APP_USER (default tendapp$$), removed at exit.  Its home is
# $T/home/NAME, which it owns: git, npm and ssh write there.
app_user() {
	APP_USER=${1:-tendapp$$}
	mkdir -p "$T/home"
	useradd --system --user-group --home-dir "$T/home/$APP_USER" \
	    --create-home --shell /usr/sbin/nologin "$APP_USER" >/dev/null 2>&1 ||
	    { echo "# useradd $APP_USER failed"; return 1; }
	on_exit "app_user_remove $APP_USER"
	APP_UID=$(id -u "$APP_USER")
	APP_GID=$(id -g "$APP_USER")
}
# as_app CMD...: CMD as $APP_USER (the attacker's shell).
as_app() { runuser -u "$APP_USER" -- "$@"; }

# --- privilege separation: the attacker's side ----------------------------
# The attack tests (t-attack-*.sh) play the owner of an app account: a
# real user (app_user) who owns the app's dir and runs code there, and
# who tries to make root (tendd) act on root's own files.  The helpers
# below set up what the attacker aims at and check, after the attack,
# that nothing of root's changed, no secret got out, tendd still answers
# and an unrelated app kept running.

# victim_setup: root's files under $V ($T/victim, root-owned): secret
# (0600, a dotenv line VICTIM_TOKEN=$SECRET), private/ (0700) with
# app/server.js and key, public/ (0755) with data.txt and sub/file.  A
# listing of it all (type, owner, mode, size, content) goes to
# $T/victim.before for victim_intact.  $SECRET must leak nowhere.
victim_setup() {
	V=$T/victim
	SECRET=victim$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	mkdir -p "$V/private/app" "$V/public/sub"
	printf 'VICTIM_TOKEN=%s\n' "$SECRET" > "$V/secret"
	printf 'key %s\n' "$SECRET" > "$V/private/key"
	cp "$SERVER" "$V/private/app/server.js"
	echo data > "$V/public/data.txt"
	echo file > "$V/public/sub/file"
	chown -R root:root "$V"
	chmod 755 "$V" "$V/public" "$V/public/sub" "$V/private/app"
	chmod 700 "$V/private"
	chmod 600 "$V/secret" "$V/private/key"
	chmod 644 "$V/public/data.txt" "$V/public/sub/file" \
	    "$V/private/app/server.js"
	victim_list > "$T/victim.before"
}
victim_list() {
	(cd "$V" && find . -printf '%p %y %u:%g %m %s %l\n' | LC_ALL=C sort &&
	    find . -type f -exec md5sum {} + | LC_ALL=C sort)
}
# victim_intact DESC: one result: every path under $V is still there
# with its type, owner, mode and content, and nothing new appeared.
victim_intact() {
	local d
	if d=$(diff "$T/victim.before" <(victim_list) 2>&1); then
		ok "$1"
	else
		not_ok "$1" "root's files changed under $V (< before, > now):"
		printf '%s\n' "$d" | head -n 12 | sed 's/^/# /'
	fi
}

# secret_nowhere DESC: $SECRET is not in any process's environment, not
# in tendctl status, releases or logs, not in a file under $T (tend's
# logs and state, the app's tree) other than the victim's own.
secret_nowhere() {
	local where=() f a
	for f in /proc/[0-9]*/environ; do
		grep -qaF "$SECRET" "$f" 2>/dev/null && where+=("$f")
	done
	timeout 5 "$TENDCTL" -c "$T/tend.conf" status --json 2>&1 |
	    grep -qF "$SECRET" && where+=("tendctl status --json")
	timeout 5 "$TENDCTL" -c "$T/tend.conf" logs all -n 100000 2>&1 |
	    grep -qF "$SECRET" && where+=("tendctl logs")
	for a in $(timeout 5 "$TENDCTL" -c "$T/tend.conf" status --json 2>/dev/null |
	    jq -r '.apps[].name' 2>/dev/null); do
		timeout 5 "$TENDCTL" -c "$T/tend.conf" releases "$a" --json 2>&1 |
		    grep -qF "$SECRET" && where+=("tendctl releases $a")
	done
	while IFS= read -r f; do
		where+=("$f")
	done < <(grep -rlaF -D skip --exclude-dir=victim "$SECRET" "$T" 2>/dev/null)
	if [ ${#where[@]} -eq 0 ]; then
		ok "$1"
	else
		not_ok "$1" "the secret is in:" "${where[@]}"
	fi
}

# status_fast DESC: tendctl status answers, in under a second.
status_fast() {
	local t0 rc dt
	t0=$(now_ms)
	timeout 5 "$TENDCTL" -c "$T/tend.conf" status >/dev/null 2>&1
	rc=$?
	dt=$(( $(now_ms) - t0 ))
	if [ "$rc" = 0 ] && [ "$dt" -lt 1000 ]; then
		ok "$1 (${dt} ms)"
	else
		not_ok "$1" "tendctl status: exit $rc after ${dt} ms"
	fi
}

# other_conf: the section of [app:other], root's plain app in the same
# tendd that an attack on another app must leave running.  other_up
# waits for it and remembers its pid; other_same checks it kept it.
other_conf() {
	mkdir -p "$T/other"
	cp "$SERVER" "$T/other/server.js"
	# Often called in a pipeline's subshell: the port goes in a file.
	[ -s "$T/.other-port" ] || free_port > "$T/.other-port"
	OTHER_PORT=$(cat "$T/.other-port")
	printf '[app:other]\ndir = %s/other\ncommand = %s server.js\nport = %s\nhealth = /health\nmin_ready = 200ms\n\n' \
	    "$T" "$NODE" "$OTHER_PORT"
}
other_up() {
	OTHER_PORT=$(cat "$T/.other-port")
	wait_for "app other live" 15 state_is other live || return 1
	OTHER_PID=$(json other pid)
}
other_same() {
	local st pid
	st=$(json other state 2>/dev/null)
	pid=$(json other pid 2>/dev/null)
	if [ "$st" = live ] && [ "$pid" = "${OTHER_PID:-}" ] &&
	    curl -s --max-time 2 "http://127.0.0.1:$OTHER_PORT/health" | grep -q OK; then
		ok "$1"
	else
		not_ok "$1" "other: state $st, pid $pid (was ${OTHER_PID:-none})"
	fi
}

# attack_checks: what every attack test ends with.
attack_checks() {
	victim_intact "root's victim files: same owner, mode, content; nothing new"
	secret_nowhere "root's secret is in no environment, status, log or file"
	status_fast "tendd answers status within 1 s"
	other_same "the other app kept running (same pid, healthy)"
}

# app_tree DIR: DIR and DIR/shared owned by $APP_USER (as an admin makes
# /srv/APP for its user), with shared/.env (0600) holding GREETING=hello.
app_tree() {
	install -d -o "$APP_USER" -g "$APP_USER" -m 755 "$1" "$1/shared"
	printf 'GREETING=hello\n' > "$1/shared/.env"
	chown "$APP_USER:$APP_USER" "$1/shared/.env"
	chmod 600 "$1/shared/.env"
}

# user_repo DIR: git_repo DIR, which $APP_USER may clone: root owns it,
# so the user's git must be told to trust it (git refuses a repository
# another user owns since 2.35.2).
user_repo() {
	git_repo "$1"
	printf '[safe]\n\tdirectory = *\n' > "$T/home/$APP_USER/.gitconfig"
	chown "$APP_USER:$APP_USER" "$T/home/$APP_USER/.gitconfig"
}

# procs_in DIR: pids of the processes whose working directory is DIR.
procs_in() {
	local f
	for f in /proc/[0-9]*/cwd; do
		[ "$(readlink "$f" 2>/dev/null)" = "$1" ] && { f=${f#/proc/}; echo "${f%/cwd}"; }
	done
	return 0
}
# none_in DIR: no process has its working directory in DIR.
none_in() { [ -z "$(procs_in "$1")" ]; }

# app_user_remove NAME: at exit, the app's user goes.  userdel refuses a
# user who still has processes, and tendd would start the app again: so
# tendd stops first, then whatever the user still runs is killed.  A
# user left behind would pile up over runs.
app_user_remove() {
	local i
	if [ -n "$TENDD_PID" ] && kill -0 "$TENDD_PID" 2>/dev/null; then
		kill -TERM "$TENDD_PID" 2>/dev/null
		for i in $(seq 1 100); do
			kill -0 "$TENDD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TENDD_PID" 2>/dev/null
	fi
	for i in $(seq 1 50); do
		pkill -KILL -u "$1" 2>/dev/null || break
		sleep 0.1
	done
	# Tests running side by side lock /etc/passwd in turn (userdel exits
	# 10 then), and a killed process may take a moment to go (8).
	for i in $(seq 1 50); do
		userdel -r "$1" >/dev/null 2>&1
		case $? in 8|10) sleep 0.1 ;; *) break ;; esac
	done
	for i in $(seq 1 50); do
		getent group "$1" >/dev/null || break
		groupdel "$1" >/dev/null 2>&1 || sleep 0.1
	done
	return 0
}

# tree_copy DEST: the source tree as committed plus the working changes
# (tracked and new files git does not ignore), without build products:
# for tests that configure and build a tree of their own.
tree_copy() {
	mkdir -p "$1" &&
	git -C "$SRCDIR" ls-files -z --cached --others --exclude-standard |
	    (cd "$SRCDIR" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
	    tar -C "$SRCDIR" --null -T - -cf - | tar -C "$1" -xf -
}
