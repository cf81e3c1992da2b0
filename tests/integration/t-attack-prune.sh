#!/usr/bin/env bash
# keep_releases = 1: a deploy removes old releases, a tree the app's user
# owns.  The user puts symbolic links to root's files and directories
# inside an old release, and while the deploys that prune it run, swaps a
# directory of it for a link to a root directory and back, thousands of
# times a second (renameat2 RENAME_EXCHANGE: each swap is atomic), so a
# remover that checks a path and then uses it is fooled.  Removal runs as
# the user: root's files all survive.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
# More for a fooled remover to find: files in root's public dir.
for i in $(seq 1 200); do echo "$i" > "$V/public/f$i"; done
chmod 644 "$V"/public/f*
victim_list > "$T/victim.before"
SRC=$T/src
user_repo "$SRC"
mkdir -p "$T/srv"
A=$T/srv/web
app_tree "$A"
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
mkdir -p "$T/nginx"
{
	cat <<EOF
[app:web]
dir = $A
repo = $SRC
user = $APP_USER
shared = .env
command = $NODE server.js
port = $P
health = /health
ready_timeout = 10s
keep_releases = 1
nginx_upstream = $T/nginx/upstream-web.conf
nginx_test = true
nginx_reload = true
drain_timeout = 200ms
kill_timeout = 2s

EOF
	other_conf
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"
# The port nginx is sent to: the live port set's.
port() { sed -n 's/^[[:space:]]*server 127.0.0.1:\([0-9]*\);$/\1/p' "$T/nginx/upstream-web.conf" | head -n 1; }
deploy() {	# VERSION
	local out rc
	if [ "$1" != v1 ]; then echo "$1" > "$SRC/version.txt"; git_commit "$SRC" "$1"; fi
	out=$(timeout 60 "$TENDCTL" -c "$T/tend.conf" deploy web 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s/^/# $1: /"
	check "deploy $1 exits 0" test "$rc" = 0
	check "web serves $1" wait_for "$1" 10 bash -c "curl -s --max-time 2 http://127.0.0.1:\$(sed -n 's/^[[:space:]]*server 127.0.0.1:\([0-9]*\);$/\1/p' '$T/nginx/upstream-web.conf' | head -n 1)/ | grep -q '^hello $1 '"
}
# The racer: swaps two paths until told to stop, or they are gone.
cat > "$T/race.py" <<'PY'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b, stop = (x.encode() for x in sys.argv[1:4])
end = time.time() + float(sys.argv[4])
n = 0
while time.time() < end and not os.path.exists(stop):
    for _ in range(1000):
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
            if ctypes.get_errno() == 2:
                end = 0
                break
        else:
            n += 1
print("swaps", n)
PY
# plant: the attack, in the release that just went live (pruned two
# deploys later): links to root's things, and a directory with many
# entries that a racer will swap with a link to root's public dir.
planted=()
plant() {
	local R=$A/releases/$(json web release)
	[ -d "$R" ] || { not_ok "the live release is in $A/releases"; return; }
	as_app ln -s "$V/public" "$R/static"
	as_app ln -s "$V/private" "$R/private"
	as_app ln -s "$V/secret" "$R/secret"
	as_app mkdir -p "$R/deep/a" "$R/sub"
	as_app ln -s "$V/public/sub" "$R/deep/a/b"
	as_app sh -c "cd '$R/sub' && for i in \$(seq 1 2000); do : > f\$i; done && touch data.txt"
	as_app ln -s "$V/public" "$R/sub.swap"
	planted+=("$R")
}
# keep_releases = 1 keeps the live release and the rollback target: each
# deploy from v3 on prunes the release two before it, which a racer
# attacks during that deploy.
n=0
for v in v1 v2 v3 v4 v5 v6; do
	racer=
	if [ "$n" -ge 2 ]; then
		R=${planted[$((n - 2))]}
		as_app python3 "$T/race.py" "$R/sub" "$R/sub.swap" "$T/race.stop.$n" 30 >>"$T/race.out" 2>&1 &
		racer=$!
		on_exit "touch $T/race.stop.$n; kill $racer"
	fi
	deploy "$v"
	if [ -n "$racer" ]; then touch "$T/race.stop.$n"; wait "$racer"; fi
	plant
	n=$((n + 1))
done
echo "# racers: $(tr '\n' ' ' < "$T/race.out")"
# (The racer may well make the user's own rm fail: that is its loss.)
check "the four old releases were pruned under attack (keep_releases = 1)" \
    test "$(tctl releases web --json | jq '[.releases[] | select(.pruned == true)] | length')" -ge 4
attack_checks
done_testing
