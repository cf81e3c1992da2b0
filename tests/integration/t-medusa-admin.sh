#!/usr/bin/env bash
# The medusa profile's admin build check: a release whose build left no
# .medusa/server/public/admin/index.html fails the deploy as build-failed,
# named, before anything starts or switches; with the admin disabled, or
# once the build makes it, the deploy goes past that check.  The check
# runs as the app's user.
. "$(dirname "$0")/../lib.sh"
app_user || { not_ok "app user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/shop
user_repo "$SRC"
mkdir -p "$SRC/.medusa/server"
cp "$SERVER" "$SRC/.medusa/server/server.js"
git_commit "$SRC" "a build output without the admin"
mkdir -p "$APPDIR/shared"
S1=$(head -c 48 /dev/urandom | base64 | tr -d '/+=' | head -c 32)
S2=$(head -c 48 /dev/urandom | base64 | tr -d '/+=' | head -c 32)
cat > "$APPDIR/shared/.env" <<ENV
DATABASE_URL=postgres://app:pw@127.0.0.1:1/shop
REDIS_URL=redis://127.0.0.1:1
JWT_SECRET=$S1
COOKIE_SECRET=$S2
STORE_CORS=https://shop.example.com
ADMIN_CORS=https://admin.example.com
AUTH_CORS=https://shop.example.com
ENV
chmod 600 "$APPDIR/shared/.env"
chown -R "$APP_USER:" "$APPDIR"
P=$(free_port)
conf() {
	tend_conf <<CONF
[app:shop]
profile = medusa
dir = $APPDIR
repo = $SRC
user = $APP_USER
env_file = $APPDIR/shared/.env
env = NODE_ENV=production
env = MEDUSA_WORKER_MODE=server
$1
build = true
command = $NODE server.js
port = $P
preflight_timeout = 1s
CONF
}
conf ""
tendd_start || { not_ok "tendd starts"; done_testing; }
out=$(tctl deploy shop 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "a release without the admin build fails the deploy (exit 1)" test "$rc" = 1
check "as build-failed, naming the file" grep -q 'build-failed: the release has no admin build (.medusa/server/public/admin/index.html)' <<<"$out"
check "saying what to do about it" grep -qi 'admin' <<<"$(tctl releases shop --json | jq -r '.releases[0].reason')"
check "nothing was started" test "$(json shop pid)" = null

conf "env = DISABLE_MEDUSA_ADMIN=true"
tctl reread >/dev/null
out=$(tctl deploy shop 2>&1)
printf '%s\n' "$out" | sed 's/^/# /'
check "with the admin disabled the deploy goes past the check" bash -c "! grep -q 'has no admin build' <<<\"\$1\" && grep -q 'starting' <<<\"\$1\"" _ "$out"

conf ""
tctl reread >/dev/null
mkdir -p "$SRC/.medusa/server/public/admin"
echo '<html></html>' > "$SRC/.medusa/server/public/admin/index.html"
git_commit "$SRC" "the admin build"
out=$(tctl deploy shop 2>&1)
printf '%s\n' "$out" | sed 's/^/# /'
check "with the admin build there the deploy goes past the check" bash -c "! grep -q 'has no admin build' <<<\"\$1\" && grep -q 'starting' <<<\"\$1\"" _ "$out"
done_testing
