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

# host_start NAME PORT [NETNS]: another tendd, as fleet host NAME, with
# one app web (the test server on PORT), in $T/NAME (in network
# namespace NETNS if given).
host_start() {
	local d=$T/$1
	mkdir -p "$d"
	{
		printf '[tend]\nsocket = %s/tend.sock\nstate_dir = %s/state\nlog_dir = %s/log\n\n' "$d" "$d" "$d"
		fleet_section "$1"
		printf '[app:web]\ndir = %s/tests/app\ncommand = %s server.js\nport = %s\nhealth = /health\n' \
		    "$SRCDIR" "$NODE" "$2"
	} > "$d/tend.conf"
	host_run "$1" "${3:-}"
}
# host_run NAME [NETNS]: start (or start again) host NAME's tendd on
# $T/NAME/tend.conf, in network namespace NETNS if given; stopped at exit.
host_run() {
	local d=$T/$1 in=()
	[ -n "${2:-}" ] && in=(ip netns exec "$2")
	"${in[@]}" "$TENDD" -f -c "$d/tend.conf" >>"$d/tendd.log" 2>&1 &
	echo $! > "$d/pid"
	on_exit "tendd_stop $!"
	wait_for "tendd of $1" 10 "$TENDCTL" -c "$d/tend.conf" status
}
# tendd_stop PID: TERM, and wait (up to 15 s) until it stopped its apps.
tendd_stop() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
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
tell() {	# tell NAME JSON: a request with no answer (a beat)
	local -n cp=$1
	[ -n "${cp[1]:-}" ] && printf '%s\n' "$2" >&"${cp[1]}"
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

# host_kill NAME: SIGKILL a host's tendd, then the app it left running
# (a tendd killed with -9 cannot stop its apps; the next one would).
host_kill() {
	local pid
	pid=$(hctl "$1" status --json | jq -r '.apps[] | select(.name == "web") | .pid')
	kill -KILL "$(cat "$T/$1/pid")"
	[ -n "$pid" ] && [ "$pid" != null ] && kill -KILL -- "-$pid" 2>/dev/null
	return 0
}

# --- hosts as network namespaces ---------------------------------------
# fleet_net N: a bridge made for the test with the root namespace on
# $NET.1/24 and N namespaces, host i on $NET.(10+i); NS[i] names them,
# VETH[i] is the root side of host i's link (ip link set ... down cuts
# it).  Only these addresses and loopback are used.  Everything is
# removed at exit, also on failure.
NET=10.213.0
fleet_net() {
	local n=$1 i tag=tf$$
	BR=${tag}br
	NS=() VETH=()
	ip link add "$BR" type bridge || return 1
	on_exit "ip link del $BR"
	ip addr add "$NET.1/24" dev "$BR" && ip link set "$BR" up || return 1
	for ((i = 1; i <= n; i++)); do
		NS[i]=${tag}h$i
		VETH[i]=${tag}v$i
		ip netns add "${NS[i]}" || return 1
		on_exit "ip netns del ${NS[i]}"
		# The processes in it go first (lib.sh's cleanup kills what
		# names $T; tend-fleet dies with its tendd).
		ip link add "${VETH[i]}" type veth peer name eth0 netns "${NS[i]}" || return 1
		ip link set "${VETH[i]}" master "$BR" up &&
		ip -n "${NS[i]}" addr add "$NET.$((10 + i))/24" dev eth0 &&
		ip -n "${NS[i]}" link set eth0 up &&
		ip -n "${NS[i]}" link set lo up || return 1
	done
}

# pg_on_bridge: PostgreSQL also on $NET.1 (PG_OPTS, before pg_start),
# then, after it, lets the namespaces in (scram, as on loopback).
pg_bridge_opts() { PG_OPTS="-c listen_addresses=127.0.0.1,$NET.1"; }
pg_on_bridge() {
	printf 'host all all %s.0/24 scram-sha-256\n' "$NET" >> "$T/pg/pg_hba.conf"
	$PSQL -c "SELECT pg_reload_conf()" >/dev/null || return 1
	wait_for "PostgreSQL on $NET.1" 10 bash -c "exec 3<>/dev/tcp/$NET.1/$PGPORT"
}

# ns_host_start I NAME PORT: host NAME's tendd in namespace I (as
# host_start, with the database reached over the bridge).
ns_host_start() {
	FLEET_URL="postgresql://tend:$FLEET_PW@$NET.1:$PGPORT/fleet" \
	    host_start "$2" "$3" "${NS[$1]}"
}
