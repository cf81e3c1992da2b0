#!/usr/bin/env bash
# root runs tendctl import pm2 on files the app's user wrote.  The user's
# JavaScript must get the user's privileges and nothing of root's (no
# terminal, no environment, no open files, no directory, no process left
# behind); a root-owned file below a directory the user (or anyone) may
# write is not root's code; --env-dir cannot be bent, by a symbolic link
# or by the file's own code, into a root-only directory, and in a user's
# directory the .env files are made as the app's user; names and values
# cannot add lines to the printed tend.conf or reach the terminal as
# escape sequences; the user's file names no other user or group; a YAML
# alias bomb is refused, not expanded.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
U=$T/u
install -d -o "$APP_USER" -g "$APP_USER" -m 755 "$U" "$U/env"
has() { grep -qxF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }
no_esc() { ! grep -q $'\e' "$@"; }

# --- the user's code sees nothing of root's --------------------------------
cat > "$U/spy.config.js" <<EOF
const fs = require('fs');
const r = {};
try { fs.closeSync(fs.openSync('/dev/tty', 'r+')); r.TTY = 'opened'; }
catch (e) { r.TTY = 'none'; }
r.FD9 = fs.readdirSync('/proc/self/fd').some((f) => {
  try { return fs.readlinkSync('/proc/self/fd/' + f) === '$V/secret'; }
  catch (e) { return false; }
}) ? 'open' : 'closed';
r.ROOTVAR = process.env.TEND_ROOT_ONLY || 'none';
try { fs.readFileSync('server.js'); r.CWDFILE = 'read'; }
catch (e) { r.CWDFILE = 'none'; }
r.GROUPS = process.getgroups().sort((a, b) => a - b).join('-');
require('child_process').spawn('sh', ['-c', 'sleep 3600; : $T/escaped'],
    { detached: true, stdio: 'ignore' }).unref();
module.exports = { apps: [{ name: 'spy', script: '$U/server.js', env: r }] };
EOF
chown "$APP_USER:" "$U/spy.config.js"
# Under a terminal of its own (script), from a directory only root can
# reach, with root's variable and a root-only file open on fd 9.
(cd "$V/private/app" && TEND_ROOT_ONLY=$SECRET script -qec \
    "$TENDCTL import pm2 --env-dir $U/env $U/spy.config.js >$T/spy.conf 2>$T/spy.err 9<$V/secret" \
    /dev/null >/dev/null)
check "import of the user's file exits 0" test $? = 0
check "node cannot open root's terminal" has "$T/spy.conf" "env = TTY=none"
check "node has no fd of root's" has "$T/spy.conf" "env = FD9=closed"
check "node has none of root's environment" has "$T/spy.conf" "env = ROOTVAR=none"
check "node does not start in root's directory" has "$T/spy.conf" "env = CWDFILE=none"
check "node has the user's groups" has "$T/spy.conf" \
    "env = GROUPS=$(id -G "$APP_USER" | tr ' ' '\n' | sort -n | paste -sd-)"
check "nothing the file started outlives the import" \
    wait_for "escaped process gone" 5 bash -c "! pgrep -f '$T/[e]scaped'"

# tendctl killed while node runs (^C, a closed SSH session): node goes
# with it, not on for ever as the user.
printf 'while (true) {}\n' > "$U/spin.config.js"
chown "$APP_USER:" "$U/spin.config.js"
"$TENDCTL" import pm2 --timeout 1h --env-dir "$U/env" "$U/spin.config.js" \
    >/dev/null 2>&1 &
imp=$!
wait_for "node runs the file" 10 pgrep -f "$U/[s]pin.config.js" >/dev/null
kill -TERM "$imp"
wait "$imp" 2>/dev/null
check "tendctl killed mid-import: node goes too" \
    wait_for "node gone" 5 bash -c "! pgrep -f '$U/[s]pin.config.js'"

# --- a root-owned file below the user's directory -----------------------------
install -d -o "$APP_USER" -g "$APP_USER" "$U/node_modules/tend-probe-uid"
echo 'module.exports = process.getuid();' > "$U/node_modules/tend-probe-uid/index.js"
chown "$APP_USER:" "$U/node_modules/tend-probe-uid/index.js"
install -d -o root -g root -m 755 "$U/rootapp"
cat > "$U/rootapp/eco.config.js" <<EOF
module.exports = { apps: [{ name: 'r', script: '$U/server.js',
  env: { EVAL_UID: String(require('tend-probe-uid')) } }] };
EOF
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/rootapp/eco.config.js" \
    >"$T/anc.conf" 2>"$T/anc.err"
check "root's file in the user's tree: exits 0" test $? = 0
check "its require()s run as the user who owns a directory above it" \
    has "$T/anc.conf" "env = EVAL_UID=$APP_UID"
check "stderr says as whom" grep -q "evaluated by node as $APP_USER" "$T/anc.err"
# That user's module can rewrite what node prints: the apps are theirs.
install -d -o "$APP_USER" -g "$APP_USER" "$U/node_modules/tend-probe-root"
cat > "$U/node_modules/tend-probe-root/index.js" <<'JS'
const s = JSON.stringify;
JSON.stringify = (v) => { for (const a of v.apps) { a.uid = 'root'; a.gid = 'root'; } return s(v); };
JS
chown "$APP_USER:" "$U/node_modules/tend-probe-root/index.js"
cat > "$U/rootapp/eco2.config.js" <<EOF
require('tend-probe-root');
module.exports = { apps: [{ name: 'r2', script: '$U/server.js' }] };
EOF
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/rootapp/eco2.config.js" \
    >"$T/anc2.conf" 2>"$T/anc2.err"
check "a module of the user's sets uid and gid root: import exits 0" test $? = 0
check "neither is mapped" bash -c "! grep -Eqx '(user|group) = root' $T/anc2.conf"
check "user = the user node ran as" has "$T/anc2.conf" "user = $APP_USER"
check "and the comment says whose apps they are" \
    grep -q "^; uid root: not mapped: the apps of .* are $APP_USER's" "$T/anc2.conf"

# Below a directory anyone may write (sticky, as /tmp): anyone's
# node_modules would be root's code.
install -d -o root -g root -m 1777 "$T/pub"
install -d -o root -g root -m 755 "$T/pub/app"
install -d -o "$APP_USER" -g "$APP_USER" "$T/pub/node_modules/tend-probe-uid"
cp "$U/node_modules/tend-probe-uid/index.js" "$T/pub/node_modules/tend-probe-uid/"
cp "$U/rootapp/eco.config.js" "$T/pub/app/eco.config.js"
"$TENDCTL" import pm2 --env-dir "$U/env" "$T/pub/app/eco.config.js" \
    >"$T/pub.conf" 2>"$T/pub.err"
check "root's file below a directory anyone may write: exit 1" test $? = 1
check "the reason names that directory" grep -q "$T/pub: may be written by others" "$T/pub.err"
check "and nothing evaluated it as root" lacks "$T/pub.conf" "EVAL_UID=0"

# --- --env-dir: a symbolic link, and a swap by the file's own code ----------
cat > "$U/sec.config.js" <<EOF
module.exports = { apps: [{ name: 'sec', script: '$U/server.js',
  env: { API_TOKEN: 'tok$$' } }] };
EOF
chown "$APP_USER:" "$U/sec.config.js"
as_app ln -s "$V/public" "$U/envlink"
"$TENDCTL" import pm2 --env-dir "$U/envlink" "$U/sec.config.js" \
    >"$T/link.out" 2>"$T/link.err"
check "--env-dir through the user's symbolic link: exit 1" test $? = 1
check "the reason names the link" grep -q "envlink: a symbolic link" "$T/link.err"

install -d -o "$APP_USER" -g "$APP_USER" "$U/env2"
cat > "$U/swap.config.js" <<EOF
const fs = require('fs');
fs.renameSync('$U/env2', '$U/env2.old');
fs.symlinkSync('$V/public', '$U/env2');
module.exports = { apps: [{ name: 'swap', script: '$U/server.js',
  env: { API_TOKEN: 'tok$$' } }] };
EOF
chown "$APP_USER:" "$U/swap.config.js"
"$TENDCTL" import pm2 --env-dir "$U/env2" "$U/swap.config.js" \
    >"$T/swap.out" 2>"$T/swap.err"
check "the file swapped --env-dir for a link while node ran: import exits 0" test $? = 0
check "the env file is in the directory named when import began" \
    test "$(stat -c '%a %U' "$U/env2.old/swap.env" 2>&1)" = "600 $APP_USER"

# In a directory the user owns, the file is the user's doing: where the
# user may not make files (their own 0555 directory), neither may root.
install -d -o "$APP_USER" -g "$APP_USER" -m 555 "$U/ro"
"$TENDCTL" import pm2 --env-dir "$U/ro" "$U/sec.config.js" >"$T/ro.out" 2>"$T/ro.err"
check "--env-dir the user may not write: exit 1" test $? = 1
check "the reason: permission denied, made as the app's user" \
    grep -q "sec.env: Permission denied (made as $APP_USER" "$T/ro.err"
check "and no file there" test -z "$(ls -A "$U/ro")"

# --- names and values that would add lines or reach the terminal ---------------
cat > "$U/inj.json" <<EOF
{ "apps": [
  { "name": "web\n[app:evil]\ncommand = /bin/sh -c id\n\u001b]0;pwned\u0007",
    "script": "$U/server.js",
    "out_file": "/x\n[app:evil2]\ncommand = /bin/false",
    "log_file": "/l\u001b[2J",
    "node_args": ["--x\n[app:evil3]"], "interpreter": "none",
    "weird\nuser = root": 1 },
  { "name": "up", "script": "$U/server.js", "uid": "root", "gid": "root" }
] }
EOF
chown "$APP_USER:" "$U/inj.json"
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/inj.json" >"$T/inj.conf" 2>"$T/inj.err"
check "odd names and values: import exits 0" test $? = 0
check "two sections, no more" test "$(grep -c '^\[app:' "$T/inj.conf")" = 2
check "no line but the ones import writes" bash -c \
    "! grep -Ev '^(;.*|\[app:[a-z0-9.-]+\]|[a-z_]+ = .*|)$' $T/inj.conf"
check "nothing from the file became a setting" bash -c \
    "! grep -Eq '^command = /bin/(sh|false)' $T/inj.conf"
check "no escape sequence on stdout or stderr" no_esc "$T/inj.conf" "$T/inj.err"
check "the user's file gives no app to root" bash -c \
    "sed -n '/^\[app:up\]/,\$p' $T/inj.conf | grep -qx 'user = $APP_USER' && ! grep -Eqx '(user|group) = root' $T/inj.conf"

printf '{"apps": [{"script": "a.js", "uid": "\\u001b]0;pwned\\u0007x"}]}\n' > "$U/escuid.json"
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/escuid.json" >/dev/null 2>"$T/escuid.err"
check "an error naming the file's value: exit 1" test $? = 1
check "without its escape sequence" no_esc "$T/escuid.err"
printf 'throw new Error("\\x1b]0;pwned\\x07 bad");\n' > "$U/escthrow.config.js"
chown "$APP_USER:" "$U/escthrow.config.js"
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/escthrow.config.js" >/dev/null 2>"$T/escthrow.err"
check "node's error: exit 1, named" grep -q "bad" "$T/escthrow.err"
check "without its escape sequence" no_esc "$T/escthrow.err"

# Shell words in args stay words: tend runs /bin/sh -c 'exec COMMAND'.
cat > "$U/sh.json" <<'JSON'
{ "apps": [ { "name": "sh", "script": "/usr/bin/printf", "interpreter": "none",
  "args": ["%s\\n", "$(touch pwned)", "`touch pwned`", "a'b", "x;y", "*", "~", "a b", "$HOME"] } ] }
JSON
chown "$APP_USER:" "$U/sh.json"
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/sh.json" >"$T/sh.conf" 2>"$T/sh.err"
check "args with shell metacharacters: exit 0" test $? = 0
cmd=$(sed -n 's/^command = //p' "$T/sh.conf")
(cd "$T" && /bin/sh -c "exec $cmd") >"$T/sh.words" 2>&1
printf '%s\n' '$(touch pwned)' '`touch pwned`' "a'b" 'x;y' '*' '~' 'a b' '$HOME' >"$T/sh.want"
check "the command gives the program exactly the args" cmp "$T/sh.want" "$T/sh.words"
check "and ran nothing of them" test ! -e "$T/pwned"

# --- bounded reading -----------------------------------------------------------
{
	printf 's: &s "%s"\napps:\n' "$(head -c 1048576 /dev/zero | tr '\0' x)"
	for _ in $(seq 1 2000); do printf ' - *s\n'; done
} > "$U/bomb.yaml"
# 1 GiB of address space at most (not under ASan, which reserves more).
lim=1048576
ldd "$TENDCTL" 2>/dev/null | grep -q libasan && lim=unlimited
(ulimit -v "$lim"; "$TENDCTL" import pm2 --env-dir "$U/env" "$U/bomb.yaml") \
    >/dev/null 2>"$T/bomb.err"
check "a YAML alias bomb (2000 x 1 MiB): exit 1" test $? = 1
check "refused for its size, not by running out of memory" \
    grep -q "too large" "$T/bomb.err"
# libyaml's time grows with the square of the nesting: refused early.
head -c 2000000 /dev/zero | tr '\0' '[' > "$U/deep.yaml"
timeout 60 "$TENDCTL" import pm2 --env-dir "$U/env" "$U/deep.yaml" >/dev/null 2>"$T/deepy.err"
check "YAML nested 2000000 deep: exit 1" test $? = 1
check "refused for its depth, at the line" grep -q "line 1: nested more than 64 deep" "$T/deepy.err"
head -c 200000 /dev/zero | tr '\0' '[' > "$U/deep.json"
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/deep.json" >/dev/null 2>"$T/deep.err"
check "JSON nested 200000 deep: exit 1, jansson's reason" \
    bash -c "test $? = 1 && grep -q 'maximum parsing depth' $T/deep.err"
truncate -s 17M "$U/huge.json"
"$TENDCTL" import pm2 --env-dir "$U/env" "$U/huge.json" >/dev/null 2>"$T/huge.err"
check "a 17 MiB file: exit 1, not read" \
    bash -c "test $? = 1 && grep -q 'larger than 16 MiB' $T/huge.err"

attack_checks_import() {
	victim_intact "root's victim files: same owner, mode, content; nothing new"
	secret_nowhere "root's secret is in no environment or file"
}
attack_checks_import
done_testing
