#!/usr/bin/env bash
# The production shape: README's "A Medusa VPS" with `user =` a real
# unprivileged user who owns /srv/APP.  profile = medusa, with command,
# build, start_dir and migrate pointed at the test server and migration;
# repo a local git repository, shared/.env holding the profile's
# variables (a real PostgreSQL and Redis), backups in a root-only
# directory, a real nginx.  It deploys, reloads, rolls back and deploys
# again; each step ends live with nginx serving the expected version, the
# migration runs as the user, a dump is taken, and every file in the
# app's tree belongs to the user.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
pg_start || { not_ok "PostgreSQL starts"; done_testing; }
redis_start || { not_ok "Redis starts"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/medusa
user_repo "$SRC"
cp "$SRCDIR/tests/app/migrate.sh" "$SRC/app-migrate.sh"
cat > "$SRC/build.sh" <<'EOF'
echo "building $(cat version.txt) as uid $(id -u)"
mkdir -p .medusa/server/public/admin
cp server.js version.txt migrate.sh app-migrate.sh .medusa/server/
echo '<!doctype html>' > .medusa/server/public/admin/index.html
EOF
cat > "$SRC/migrate.sh" <<'EOF'
echo "migrate as uid $(id -u)"
exec sh ./app-migrate.sh
EOF
git_commit "$SRC" "build and migration"

# What an admin does once: /srv/medusa and its shared/.env for the user,
# tend's backups where only root may look.
mkdir -p "$T/srv"
install -d -o "$APP_USER" -g "$APP_USER" -m 750 "$APPDIR" "$APPDIR/shared"
hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
cat > "$APPDIR/shared/.env" <<EOF
DATABASE_URL=postgres://app:apppass@127.0.0.1:$PGPORT/shop
REDIS_URL=redis://:rpass@127.0.0.1:$RPORT
JWT_SECRET=$(hex)
COOKIE_SECRET=$(hex)
STORE_CORS=https://shop.example.com
ADMIN_CORS=https://admin.example.com
AUTH_CORS=https://shop.example.com,https://admin.example.com
EOF
chown "$APP_USER:$APP_USER" "$APPDIR/shared/.env"
chmod 600 "$APPDIR/shared/.env"
install -d -o root -g root -m 700 "$T/backups"

P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
UP=$T/nginx/medusa.conf
mkdir -p "$T/nginx"
conf() {
	tend_conf <<EOF
[app:medusa]
profile      = medusa
repo         = $SRC
branch       = main
dir          = $APPDIR
env_file     = $APPDIR/shared/.env
env          = NODE_ENV=production
env          = MEDUSA_WORKER_MODE=server
user         = $APP_USER
command      = $NODE server.js
build        = sh build.sh
start_dir    = .medusa/server
migrate      = sh migrate.sh
port         = $P
ready_timeout = 20s
nginx_upstream = $UP
nginx_test   = $NGINX_TEST
nginx_reload = $NGINX_RELOAD
drain_timeout = 1s
backup_before_migrate = $T/backups
max_memory   = 1800M
EOF
}
NGINX_TEST=true NGINX_RELOAD=true conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
check "tendd -t accepts the README's shape (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
tendd_start || { not_ok "tendd starts"; done_testing; }
nginx_start "$UP" medusa || { not_ok "nginx starts"; done_testing; }
conf
tctl reread >/dev/null

serves() { wait_for "nginx to serve $1" 10 bash -c "curl -s --max-time 2 http://127.0.0.1:$NGPORT/ | grep -q '^hello $1 '"; }
all_users() {	# every file in the app's tree is the user's
	local bad
	bad=$(find "$APPDIR" ! -user "$APP_USER" -printf '%p (%u)\n' 2>&1 | head -n 10)
	if [ -z "$bad" ]; then
		ok "$1: every file in $APPDIR is $APP_USER's"
	else
		not_ok "$1: every file in $APPDIR is $APP_USER's" "not the user's:"
		printf '%s\n' "$bad" | sed 's/^/#   /'
	fi
}
runs_as_user() {
	local pid
	pid=$(json medusa pid)
	[ "$pid" != null ] && [ "$(awk '/^Uid:/ {print $2,$3,$4,$5}' "/proc/$pid/status")" = \
	    "$APP_UID $APP_UID $APP_UID $APP_UID" ]
}
migrated_as_user() {	# N: the Nth migration's output names the user's uid
	[ "$(grep -c " migrate as uid $APP_UID\$" "$T/log/medusa.log")" -ge "$1" ] &&
	    ! grep ' migrate as uid ' "$T/log/medusa.log" | grep -vq " uid $APP_UID\$"
}
# step NAME VERSION CMD...: one step of the operator's; it must exit 0
# and end live, nginx serving VERSION, the tree the user's.  A step that
# fails ends the test: the next ones build on it.
step() {
	local name=$1 v=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $name: /"
	check "$name exits 0" test "$rc" = 0
	[ "$rc" = 0 ] || done_testing
	check "$name: the app is live" wait_for "medusa live" 20 state_is medusa live
	check "$name: nginx serves $v" serves "$v"
	check "$name: the app runs as $APP_USER" runs_as_user
	all_users "$name"
}

step "the first deploy" v1 tctl deploy medusa
rel1=$(json medusa release)
check "current points at the release ($rel1)" test "$(readlink "$APPDIR/current")" = "$APPDIR/releases/$rel1"
check "shared/.env is linked into .medusa/server" test "$(readlink "$APPDIR/releases/$rel1/.medusa/server/.env")" = "$APPDIR/shared/.env"
check "the build ran as the user" grep -q "building v1 as uid $APP_UID\$" "$T/log/medusa.log"
check "the migration ran as the user" migrated_as_user 1
check "and recorded itself in the database" test "$($PSQL -d shop -At -c "SELECT count(*) FROM migrations WHERE tag = 'medusa'")" -ge 1
dump=$(tctl releases medusa --json | jq -r '.releases[0].backup.file')
check "a dump was taken before the migration ($dump)" test -s "$dump"
check "in the root-only backup directory, root's, mode 0600" test "$(dirname "$dump") $(stat -c '%U %a' "$dump")" = "$T/backups root 600"
check "the deploy log is tend's, root-owned, in log_dir" test "$(stat -c '%U %F' "$T/log/medusa.deploys/$rel1.log" 2>&1)" = "root regular file"
check "and no log is left in the user's releases/" test -z "$(find "$APPDIR/releases" -maxdepth 1 -name '*.log')"

echo v2 > "$SRC/version.txt"; git_commit "$SRC" v2
step "a second deploy" v2 tctl deploy medusa
rel2=$(json medusa release)
check "a new release ($rel2)" test "$rel2" != "$rel1"
check "it migrated as the user too" migrated_as_user 2

pid=$(json medusa pid)
step "a reload" v2 tctl reload medusa
check "the reload started a new process" test "$(json medusa pid)" != "$pid"
check "of the same release" test "$(json medusa release)" = "$rel2"

step "a rollback" v1 tctl rollback medusa
check "the rollback made $rel1 live again" test "$(json medusa release)" = "$rel1"
check "current points back at it" test "$(readlink "$APPDIR/current")" = "$APPDIR/releases/$rel1"

echo v3 > "$SRC/version.txt"; git_commit "$SRC" v3
step "a deploy after the rollback" v3 tctl deploy medusa
check "releases lists v3 live" test "$(tctl releases medusa --json | jq -r '.releases[0].status')" = live
check "every migration ran as the user" migrated_as_user 3
check "no secret in status" bash -c "! '$TENDCTL' -c '$T/tend.conf' status --json | grep -qE 'apppass|rpass'"
done_testing
