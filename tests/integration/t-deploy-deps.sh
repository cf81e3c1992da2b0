#!/usr/bin/env bash
# tend_deps, the build's dependency step, as the app's user: a release
# whose package.json, lockfile, node and install command match the live
# release's copies the live node_modules (a copy: other inodes, the
# user's) and skips the install, in the release and in a folder the
# build makes (Medusa's .medusa/server); a changed lockfile installs
# fresh; reuse_dependencies = no always installs.  The install is a
# stand-in that counts its runs, so no registry is needed.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
SRC=$T/src
APPDIR=$T/srv/shop
user_repo "$SRC"
cat > "$SRC/package.json" <<'EOF'
{ "name": "shop", "version": "1.0.0", "private": true }
EOF
echo 'lock 1' > "$SRC/package-lock.json"
# The stand-in for npm ci (and, with "rewrite", npm install):
# node_modules with a file whose content is the lockfile it was made
# from, and a line per run in the user's home.
cat > "$SRC/install.sh" <<'EOF'
echo "installing in $(pwd)"
echo "$(pwd)" >> "$HOME/installs"
mkdir -p node_modules/dep
cp package-lock.json node_modules/dep/lock
# npm install rewrites the lockfile it installed from (npm ci does not)
[ "${1-}" = rewrite ] && echo "rewritten by the install" >> package-lock.json
exit 0
EOF
cat > "$SRC/build.sh" <<'EOF'
mkdir -p out
cp package.json package-lock.json server.js version.txt out/
EOF
git_commit "$SRC" "dependencies"
mkdir -p "$T/srv"
install -d -o "$APP_USER" -g "$APP_USER" -m 750 "$APPDIR"
HOMEDIR=$T/home/$APP_USER
P=$(free_port)
conf() {	# reuse_dependencies value
	tend_conf <<EOF
[app:shop]
repo         = $SRC
dir          = $APPDIR
user         = $APP_USER
command      = $NODE server.js
build        = tend_deps . sh install.sh && sh build.sh && tend_deps out sh ../install.sh rewrite
start_dir    = out
port         = $P
health       = /health
ready_timeout = 20s
reuse_dependencies = $1
EOF
}
conf yes
tendd_start || { not_ok "tendd starts"; done_testing; }

installs() { [ -f "$HOMEDIR/installs" ] && wc -l < "$HOMEDIR/installs" || echo 0; }
# deploy NAME: a deploy that must end live; its output in $out.
deploy() {
	local rc
	out=$(tctl deploy shop 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $1: /"
	check "$1 exits 0" test "$rc" = 0
	[ "$rc" = 0 ] || done_testing
	check "$1: the app is live" wait_for "shop live" 20 state_is shop live
	rel=$APPDIR/releases/$(json shop release)
}
# copied A B: B's node_modules is a copy of A's: same content, every
# file another inode, and the user's.
copied() {
	local a=$1/node_modules/dep/lock b=$2/node_modules/dep/lock
	cmp -s "$a" "$b" &&
	    [ "$(stat -c %i "$a")" != "$(stat -c %i "$b")" ] &&
	    [ "$(stat -c %h "$b")" = 1 ] &&
	    [ "$(stat -c %U "$b" "$2/node_modules" "$2/node_modules/dep")" = \
	        "$(printf '%s\n' "$APP_USER" "$APP_USER" "$APP_USER")" ]
}

deploy "the first deploy"
rel1=$rel
check "it installed twice (the release and out/)" test "$(installs)" = 2
check "and recorded what it installed for" grep -q '^node v[0-9.]*; sh install.sh$' "$rel1/node_modules/.tend-deps"
check "with the lockfile as it was before the install" grep -q "^$(echo 'lock 1' | sha256sum | cut -d' ' -f1)  package-lock.json\$" "$rel1/out/node_modules/.tend-deps"

echo v2 > "$SRC/version.txt"; git_commit "$SRC" "code only"
deploy "a code-only change"
rel2=$rel
check "it installed nothing" test "$(installs)" = 2
check "it said it copied both node_modules" test "$(grep -c 'node_modules copied from' <<<"$out")" = 2
check "the release's node_modules is a copy of the live one's, the user's" copied "$rel1" "$rel2"
check "so is out/node_modules" copied "$rel1/out" "$rel2/out"
check "the new release serves v2" bash -c "curl -s --max-time 2 http://127.0.0.1:$P/ | grep -q '^hello v2 '"

echo 'lock 2' > "$SRC/package-lock.json"; git_commit "$SRC" "a new lockfile"
deploy "a lockfile change"
rel3=$rel
check "it installed fresh, twice" test "$(installs)" = 4
check "saying the lockfile changed" test "$(grep -c 'package.json or lockfile changed; installing' <<<"$out")" = 2
check "node_modules is the new lockfile's" grep -qx 'lock 2' "$rel3/node_modules/dep/lock"
check "in out/ too" grep -qx 'lock 2' "$rel3/out/node_modules/dep/lock"

echo v4 > "$SRC/version.txt"; git_commit "$SRC" "code only, again"
deploy "a code-only change after it"
check "reused the lockfile-2 install" test "$(installs)" = 4
check "a copy of it" copied "$rel3" "$rel"

# A changed setting restarts the app as a new object; a deploy asked for
# before that would run with the old settings.
pid=$(json shop pid)
conf no
tctl reread >/dev/null
restarted() { [ "$(json shop pid)" != "$pid" ] && state_is shop live; }
check "the new settings apply (the app restarts)" wait_for "shop restarted" 20 restarted
echo v5 > "$SRC/version.txt"; git_commit "$SRC" "code only, reuse off"
deploy "a code-only change with reuse_dependencies = no"
check "installed fresh" test "$(installs)" = 6
check "copied nothing" bash -c "! grep -q 'copied from' <<<\"\$1\"" _ "$out"
done_testing
