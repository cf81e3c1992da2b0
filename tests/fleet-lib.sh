# tests/fleet-lib.sh: sourced after lib.sh by the t-fleet*.sh tests.
# The database a fleet's hosts share, more tendds ("hosts") beside the
# test's own, each in a directory of its own with its own socket, and
# tend-fleet driven by hand for the lease's own tests.

FLEET_PW=fl33t-pw-x9
TEND_FLEET=${TEND_FLEET:-$BUILDDIR/src/tend-fleet}

# fleet_db: after pg_start, a role "tend" with a password owning a
# database "fleet"; FLEET_URL reaches it.
fleet_db() {
	$PSQL -c "CREATE USER tend PASSWORD '$FLEET_PW'" \
	    -c "CREATE DATABASE fleet OWNER tend" >/dev/null || return 1
	FLEET_URL="postgresql://tend:$FLEET_PW@127.0.0.1:$PGPORT/fleet"
	FQ="$PSQL -d fleet -At"
}

# fleet_section HOST [LEASE]: a [fleet] section for host HOST.
fleet_section() {
	printf '[fleet]\ndatabase = %s\nhost = %s\nlease = %s\nuser = nobody\n\n' \
	    "$FLEET_URL" "$1" "${2:-3s}"
}

# host_start NAME PORT: another tendd, as fleet host NAME, with one app
# web (the test server on PORT), in $T/NAME.
host_start() {
	local d=$T/$1
	mkdir -p "$d"
	{
		printf '[tend]\nsocket = %s/tend.sock\nstate_dir = %s/state\nlog_dir = %s/log\n\n' "$d" "$d" "$d"
		fleet_section "$1"
		printf '[app:web]\ndir = %s/tests/app\ncommand = %s server.js\nport = %s\nhealth = /health\n' \
		    "$SRCDIR" "$NODE" "$2"
	} > "$d/tend.conf"
	"$TENDD" -f -c "$d/tend.conf" >>"$d/tendd.log" 2>&1 &
	echo $! > "$d/pid"
	on_exit "kill -KILL $! 2>/dev/null"
	wait_for "tendd of $1" 10 "$TENDCTL" -c "$d/tend.conf" status
}
hctl() { local h=$1; shift; "$TENDCTL" -c "$T/$h/tend.conf" "$@"; }

# fleet_json HOST JQ: status --fleet --json of the test's own tendd.
fleet_json() { tctl status --fleet --json | jq -r "$1"; }

# helper_pid TENDD_PID: its tend-fleet.
helper_pid() { pgrep -P "$1" -x tend-fleet; }

# helper_open NAME HOST [WRAPPER...]: a tend-fleet of our own for host
# HOST on coprocess NAME (lease 3 s); ask NAME JSON: one answer line in
# REPLY (events skipped).
helper_open() {
	local name=$1 host=$2
	shift 2
	eval "coproc $name { TEND_FLEET_URL=\"\$FLEET_URL\" TEND_FLEET_HOST=$host TEND_FLEET_LEASE_MS=3000 exec $* \"\$TEND_FLEET\" 2>\"\$T/$name.err\"; }" 2>/dev/null
	local -n cp=$name
	# Connected, schema made ("down" lines before it are retries).
	while read -r -t 60 REPLY <&"${cp[0]}"; do
		[[ $REPLY == *'"up"'* ]] && return 0
		echo "# $name: $REPLY"
	done
	return 1
}
ask() {
	local -n cp=$1
	REPLY=
	[ -n "${cp[1]:-}" ] || return 1
	printf '%s\n' "$2" >&"${cp[1]}"
	while read -r -t 20 REPLY <&"${cp[0]}"; do
		case $REPLY in *'"event"'*) continue ;; esac
		return 0
	done
	REPLY=
	return 1
}
