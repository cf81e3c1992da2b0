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

tctl() { "$TENDCTL" -c "$T/tend.conf" "$@"; }

tendd_start() {
	"$TENDD" -f -c "$T/tend.conf" "$@" >>"$T/tendd.log" 2>&1 &
	TENDD_PID=$!
	wait_for "tendd to answer" 10 tctl status
}

# json APP FIELD: a field of one app from status --json ("null" if none).
json() { tctl status --json | jq -r --arg a "$1" ".apps[] | select(.name == \$a) | .$2"; }
state_is() { [ "$(json "$1" state)" = "$2" ]; }

# A free loopback TCP port.
free_port() {
	local p
	while :; do
		p=$(( 20000 + RANDOM % 20000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# The pids of every process in process group $1.
group_pids() { ps -eo pid=,pgid= | awk -v g="$1" '$2 == g { print $1 }'; }

done_testing() { exit "$FAILED"; }
