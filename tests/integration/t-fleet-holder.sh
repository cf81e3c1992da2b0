#!/usr/bin/env bash
# The holder of a fleet deploy dies: two hosts (h1, h2: two tendds, each
# its own app dir, ports and nginx) on one PostgreSQL and one git
# repository.  h2 runs a fleet deploy and its tendd is killed with
# SIGKILL in the middle of it.  Once its lease ran out, h1's
# deploy --fleet --wait takes the lease and brings the fleet to the new
# release; the dead holder's generation can no longer write (0 rows).
# h2, started again, converges to the fleet's release by itself, and
# does not run that release's migration again (tend.migration says it
# ran).
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/fleet-lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
command -v jq >/dev/null || { not_ok "jq is installed"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
fleet_db || { not_ok "the fleet database is made"; done_testing; }
SRC=$T/src
user_repo "$SRC"
cp "$SRCDIR/tests/app/migrate.sh" "$SRC/migrate.sh"
printf '%s\n' 'exec node server.js' > "$SRC/start.sh"
git_commit "$SRC" "start and migration"
chmod -R a+rX "$SRC"

DB="postgresql://app:apppass@127.0.0.1:$PGPORT/shop"
fconf() {	# fconf NAME NGINX_TEST NGINX_RELOAD
	local n=$1 d=$T/$1
	{
		printf '[tend]\nsocket = %s/tend.sock\nstate_dir = %s/state\nlog_dir = %s/log\n\n' "$d" "$d" "$d"
		fleet_section "$n"
		printf 'batch = 1\nwatch = 1s\non_lost = skip\n\n'
		printf '[app:web]\ndir = %s/srv\nuser = %s\nrepo = %s\nshared = .env\nenv_file = %s/srv/shared/.env\n' \
		    "$d" "$APP_USER" "$SRC" "$d"
		printf 'env = DATABASE_URL=%s\nenv = MIGRATE_TAG=%s\n' "$DB" "$n"
		printf 'command = sh start.sh\nmigrate = sh migrate.sh\nport = %s\nhealth = /health\nready_timeout = 8s\n' "$(cat "$d.port")"
		printf 'nginx_upstream = %s/nginx/web.conf\nnginx_test = %s\nnginx_reload = %s\ndrain_timeout = 1s\n' "$d" "$2" "$3"
	} > "$d/tend.conf.new" && mv "$d/tend.conf.new" "$d/tend.conf"
}
fhost() {	# fhost NAME: a host running web from the repository
	local n=$1 d=$T/$1
	free_port > "$d.port"
	mkdir -p "$d/nginx"
	app_tree "$d/srv"
	fconf "$n" true true
	host_run "$n" || return 1
	T=$d nginx_start "$d/nginx/web.conf" web || return 1
	fconf "$n" "$NGINX_TEST" "$NGINX_RELOAD"
	hctl "$n" reread >/dev/null
}
for h in h1 h2; do fhost $h || { not_ok "host $h starts with its nginx"; done_testing; }; done
two() { [ "$(hctl h1 status --fleet --json | jq '[.hosts[] | select(.apps.web and (.lost | not))] | length')" = 2 ]; }
check "h1 sees two hosts" wait_for "two hosts" 20 two
on_sha() { [ "$(hctl "$1" releases web --json | jq -r '.releases[] | select(.live) | .sha')" = "$2" ]; }
migs() { $PSQL -d shop -At -c "SELECT count(*) FROM migrations"; }

out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" deploy web --fleet 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# h1: /'
sha1=$(git -C "$SRC" rev-parse HEAD)
check "a first fleet deploy exits 0" test "$rc" = 0
for h in h1 h2; do check "$h runs v1" on_sha $h "$sha1"; done

# v2 from h2; h2's tendd is SIGKILLed once it built v2 and told h1 to.
echo v2 > "$SRC/version.txt"
git_commit "$SRC" v2
chmod -R a+rX "$SRC"
sha2=$(git -C "$SRC" rev-parse HEAD)
hctl h2 deploy web --fleet > "$T/d2.out" 2>&1 &
D2=$!
check "h2's fleet deploy gets to building on h1" wait_for "h2 built" 90 grep -q "resolves to" "$T/d2.out"
gen=$($FQ -c "SELECT generation FROM tend.lease WHERE name = 'deploy' AND holder = 'h2' AND state = 'running'")
check "h2 holds the lease (generation $gen)" test -n "$gen"
host_kill h2
t0=$(now_ms)
wait "$D2"
sed 's/^/# h2: /' "$T/d2.out"
out=$(timeout 120 "$TENDCTL" -c "$T/h1/tend.conf" deploy web --fleet --wait 2>&1); rc=$?
dt=$(( $(now_ms) - t0 ))
printf '%s\n' "$out" | sed 's/^/# h1: /'
check "h1's deploy --fleet --wait proceeds after the dead holder's lease (exit $rc, ${dt} ms)" test "$rc" = 0
check "not before that lease ran out" test "$dt" -ge 2000
g1=$($FQ -c "SELECT generation FROM tend.lease WHERE name = 'deploy'")
check "with a new generation ($g1 > $gen), done" \
    test "$g1" -gt "$gen" -a "$($FQ -c "SELECT state FROM tend.lease WHERE name = 'deploy'")" = done
check "h2 was skipped as lost" grep -q "h2: lost" <<<"$out"
check "h1 runs v2" on_sha h1 "$sha2"
check "v2 is the fleet's release" test "$($FQ -c "SELECT sha FROM tend.fleet_release WHERE app = 'web'")" = "$sha2"
# The dead holder's generation is fenced: by hand and through tend-fleet.
check "an UPDATE of the lease with generation $gen: 0 rows" \
    test "$($FQ -c "WITH u AS (UPDATE tend.lease SET lease_until = now() + interval '1 h' WHERE name = 'deploy' AND generation = $gen AND holder = 'h2' AND lease_until > now() RETURNING 1) SELECT count(*) FROM u")" = 0
helper_open HZ h2 || not_ok "a tend-fleet as h2 connects"
ask HZ "{\"id\":1,\"op\":\"order\",\"generation\":$gen,\"host\":\"h1\",\"word\":\"revert\"}"
check "h2's old generation cannot order a host: fenced" bash -c 'jq -e ".ok == 0 and .fenced" <<<"$1" >/dev/null' _ "$REPLY"
ask HZ "{\"id\":2,\"op\":\"release\",\"generation\":$gen,\"state\":\"done\",\"sha\":\"$sha1\"}"
check "nor give back the lease or set the fleet's release: fenced" bash -c 'jq -e ".ok == 0 and .fenced" <<<"$1" >/dev/null' _ "$REPLY"
check "0 rows of its generation's orders say revert" \
    test "$($FQ -c "SELECT count(*) FROM tend.fleet_order WHERE generation = $gen AND word = 'revert'")" = 0
check "the fleet's release is still v2" test "$($FQ -c "SELECT sha FROM tend.fleet_release WHERE app = 'web'")" = "$sha2"

# h2 again: it starts on what it ran (v1, whose migration the fleet
# records as run), then converges to v2 by itself.
m0=$(migs)
host_run h2 || not_ok "h2's tendd starts again"
check "h2, back, deploys the fleet's release v2 by itself" wait_for "h2 on v2" 90 on_sha h2 "$sha2"
check "its log says why" grep -q "the fleet's last deploy left it on $sha2" "$T/h2/tendd.log"
check "no migration ran on h2's return ($m0 rows before, $(migs) after)" test "$(migs)" = "$m0"
check "h2's restart skipped its release's migration: the fleet's record says it ran" \
    grep -q "migration of .* skipped: the fleet records it as run" "$T/h2/tendd.log"
done_testing
