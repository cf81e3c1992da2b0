#!/usr/bin/env bash
# tendctl import pm2: an ecosystem file in JavaScript, JSON and YAML, and
# the dump.pm2 of a real `pm2 save`, become tend.conf sections that
# tendd -t accepts and that tendd runs on the same ports.  Secrets reach
# the apps through the generated .env files and never show on stdout.
. "$(dirname "$0")/../lib.sh"

app_user || { not_ok "app user"; done_testing; }
mkdir -p "$T/app" "$T/env"
cp "$SERVER" "$T/app/server.js"
chmod 755 "$T/app"
chmod 644 "$T/app/server.js"

# Two free consecutive ports: P and P+1.
port_pair() {
	local p
	while :; do
		p=$(free_port)
		[ "$p" -lt 65535 ] || continue
		(exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null && continue
		grep -qx "$((p + 1))" "$T/.ports" && continue
		echo "$((p + 1))" >> "$T/.ports"
		echo "$p"
		return
	done
}
health() { curl -fsS --max-time 2 "http://127.0.0.1:$1/health" | grep -q OK; }
appenv() { curl -fsS --max-time 2 "http://127.0.0.1:$1/env?name=$2"; }
# has FILE TEXT: FILE has a line that is exactly TEXT.
has() { grep -qxF -- "$2" "$1"; }
# lacks FILE TEXT: TEXT is nowhere in FILE.
lacks() { ! grep -qF -- "$2" "$1"; }

# --- ecosystem.config.js: cluster mode, env_production, node_args ---------
P=$(port_pair)
JWT=jwt$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
DBPW=pw$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
cat > "$T/ecosystem.config.js" <<EOF
// The user that evaluates this file, as the app's environment shows it.
const who = require('os').userInfo().username;
module.exports = {
  apps: [{
    name: 'api',
    script: './server.js',
    cwd: '$T/app',
    exec_mode: 'cluster',
    instances: 2,
    node_args: '--max-old-space-size=256 --enable-source-maps',
    max_memory_restart: '300M',
    kill_timeout: 3000,
    exp_backoff_restart_delay: 200,
    max_restarts: 5,
    min_uptime: '5s',
    out_file: '/var/log/api.out.log',
    error_file: '/var/log/api.err.log',
    watch: true,
    cron_restart: '0 3 * * *',
    env: { PORT: $P, NODE_ENV: 'development', GREETING: 'hi there' },
    env_production: {
      NODE_ENV: 'production',
      EVAL_USER: who,
      JWT_SECRET: '$JWT',
      SEARCH_URL: 'http://search:$DBPW@127.0.0.1:7700/',
    },
    env_staging: { NODE_ENV: 'staging' },
  }],
};
EOF
# The file is the app user's: root's tendctl has node evaluate it as them.
chown "$APP_USER:" "$T/ecosystem.config.js"
"$TENDCTL" import pm2 --env-dir "$T/env" "$T/ecosystem.config.js" \
    >"$T/js.conf" 2>"$T/js.err"
check "import of ecosystem.config.js exits 0" test $? = 0
check "node evaluated it as the file's owner, not root" \
    has "$T/js.conf" "env = EVAL_USER=$APP_USER"
check "stderr says whom node ran as" grep -q "evaluated by node as $APP_USER, its owner" "$T/js.err"
check "user = the file's owner" has "$T/js.conf" "user = $APP_USER"
check "script and node_args make the command; heap left out of it" \
    has "$T/js.conf" "command = $NODE --enable-source-maps $T/app/server.js"
check "cwd -> dir" has "$T/js.conf" "dir = $T/app"
check "--max-old-space-size=256 -> heap = 256M" has "$T/js.conf" "heap = 256M"
check "max_memory_restart -> max_memory" has "$T/js.conf" "max_memory = 300M"
check "kill_timeout -> kill_timeout" has "$T/js.conf" "kill_timeout = 3000ms"
check "exp_backoff_restart_delay -> restart_delay" has "$T/js.conf" "restart_delay = 200ms"
check "max_restarts -> start_limit" has "$T/js.conf" "start_limit = 5"
check "min_uptime -> min_uptime" has "$T/js.conf" "min_uptime = 5000ms"
check "cluster: instances = 2" has "$T/js.conf" "instances = 2"
check "env PORT -> port" has "$T/js.conf" "port = $P"
check "cluster: a note on consecutive ports and nginx" \
    grep -q "^; PM2's cluster mode shared port $P among 2 workers.*ports $P-$((P + 1)).*nginx" "$T/js.conf"
check "env_production wins over env" has "$T/js.conf" "env = NODE_ENV=production"
check "env values stay as they are" has "$T/js.conf" "env = GREETING=hi there"
check "watch listed as not mapped, with why" grep -q '^; watch: not mapped: tend does not restart on file changes' "$T/js.conf"
check "cron_restart listed as not mapped" grep -q '^; cron_restart: not mapped' "$T/js.conf"
check "out_file and error_file in a comment" \
    grep -q '^; PM2 logged to /var/log/api.out.log and /var/log/api.err.log' "$T/js.conf"
check "env_staging named as not used" grep -q '^; env_staging: not used' "$T/js.conf"
check "secrets go to an env_file" has "$T/js.conf" "env_file = $T/env/api.env"
check "no secret on stdout" bash -c "! grep -Eq '$JWT|$DBPW' $T/js.conf"
check "no secret on stderr" bash -c "! grep -Eq '$JWT|$DBPW' $T/js.err"
check "the env_file: mode 0600, the app user's" \
    test "$(stat -c '%a %U' "$T/env/api.env")" = "600 $APP_USER"
check "the env_file holds the secrets" grep -q "^JWT_SECRET=\"$JWT\"$" "$T/env/api.env"

mkdir -p "$T/staging"
"$TENDCTL" import pm2 --env staging --env-dir "$T/staging" "$T/ecosystem.config.js" \
    >"$T/staging.conf" 2>/dev/null
check "--env staging takes env_staging instead" \
    bash -c "grep -qx 'env = NODE_ENV=staging' $T/staging.conf && ! grep -q 'JWT_SECRET\|env_file' $T/staging.conf"

# --- ecosystem.json: a name tend renames, relative paths, fork mode ---------
Q=$(free_port)
# PM2 reads .json ecosystem files as JavaScript: comments and trailing
# commas pass, so node reads what jansson refuses.
cat > "$T/ecosystem.json" <<EOF
{ "apps": [ {
    // the shop's storefront server
    "name": "shop front",
    "script": "server.js",
    "cwd": "app",
    "env": { "PORT": $Q, "STORE_CORS": "http://localhost:8000" },
    "restart_delay": 300,
    "autorestart": true,
    "stop_exit_codes": [0],
} ] }
EOF
# The app user's (root does not evaluate a file of its own below /tmp).
chown "$APP_USER:" "$T/ecosystem.json"
(cd "$T" && "$TENDCTL" import pm2 --env-dir "$T/env" ecosystem.json) \
    >"$T/json.conf" 2>"$T/json.err"
check "import of ecosystem.json (with a comment) exits 0" test $? = 0
check "an invalid name is made a tend name, and said so" \
    bash -c "grep -qx '\[app:shop-front\]' $T/json.conf && grep -q '^; PM2 name \"shop front\" is not a tend name' $T/json.conf"
check "relative cwd and script resolve against the current directory" \
    has "$T/json.conf" "command = $NODE $T/app/server.js"
check "restart_delay is fixed, as in PM2" \
    bash -c "grep -qx 'restart_delay = 300ms' $T/json.conf && grep -qx 'restart_delay_max = 300ms' $T/json.conf"
check "stop_exit_codes [0] -> restart = on-failure" has "$T/json.conf" "restart = on-failure"
check "no secret, no env_file" lacks "$T/json.conf" "env_file"

# A program on PATH as the script (npm run start): run as it is, and
# its heap through NODE_OPTIONS.
printf '{"apps": [{"name": "npmapp", "script": "npm", "args": "run start", "cwd": "%s", "node_args": "--max-old-space-size=512"}]}\n' \
    "$T/app" > "$T/npm.json"
"$TENDCTL" import pm2 "$T/npm.json" >"$T/npm.conf" 2>&1
check "script npm: the program from PATH, no interpreter" \
    has "$T/npm.conf" "command = $(command -v npm) run start"
check "script npm: heap from node_args" has "$T/npm.conf" "heap = 512M"
check "a root-owned file: no user, and a comment says so" \
    grep -q '^; user = NAME   PM2 ran this app as root' "$T/npm.conf"

# --- ecosystem.yaml: uid, a token --------------------------------------------
R=$(free_port)
TOKEN=tok$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
cat > "$T/ecosystem.yaml" <<EOF
defaults: &defaults
  max_memory_restart: 1G
  kill_timeout: 9000
apps:
  - <<: *defaults
    name: worker
    script: $T/app/server.js
    uid: $APP_USER
    kill_timeout: 5000
    env:
      PORT: $R
      API_TOKEN: "$TOKEN"
      FEATURE: yes
EOF
"$TENDCTL" import pm2 --env-dir "$T/env" "$T/ecosystem.yaml" \
    >"$T/yaml.conf" 2>"$T/yaml.err"
check "import of ecosystem.yaml exits 0" test $? = 0
check "uid -> user" has "$T/yaml.conf" "user = $APP_USER"
check "YAML 1.2 as PM2 reads it: yes is a string" has "$T/yaml.conf" "env = FEATURE=yes"
check "a merge key (<<: *defaults) brings max_memory_restart" has "$T/yaml.conf" "max_memory = 1G"
check "the app's own kill_timeout wins over the merged one" has "$T/yaml.conf" "kill_timeout = 5000ms"
check "no token on stdout" lacks "$T/yaml.conf" "$TOKEN"
check "the YAML app's env_file is the app user's" \
    test "$(stat -c '%a %U' "$T/env/worker.env")" = "600 $APP_USER"

# --- dump.pm2 from a real pm2 save -----------------------------------------------
D1=$(free_port)
D2=$(port_pair)
SESSION=sess$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
PM2=$T/pm2/node_modules/.bin/pm2
# npm keeps its cache in root's home: the next run installs from it.
if ! npm install --prefix "$T/pm2" --no-audit --no-fund --loglevel=error \
    pm2@5 >"$T/npm.log" 2>&1 || [ ! -x "$PM2" ]; then
	not_ok "npm install pm2@5" "$(tail -n 3 "$T/npm.log")"
	done_testing
fi
chmod -R a+rX "$T/pm2"
install -d -o "$APP_USER" -g "$APP_USER" "$T/pm2home" "$T/uenv"
# pm2 as the app's user, in an environment of our making.
pm2u() {
	runuser -u "$APP_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin \
	    HOME="$T/home/$APP_USER" PM2_HOME="$T/pm2home" "$@"
}
on_exit "runuser -u $APP_USER -- env HOME=$T/home/$APP_USER PM2_HOME=$T/pm2home $PM2 kill"
pm2u PORT="$D1" SESSION_SECRET="$SESSION" "$PM2" start "$T/app/server.js" \
    --name web1 >"$T/pm2.log" 2>&1
pm2u PORT="$D2" "$PM2" start "$T/app/server.js" --name web2 -i 2 \
    --node-args="--max-old-space-size=200" --max-memory-restart 300M \
    --kill-timeout 4000 >>"$T/pm2.log" 2>&1
if wait_for "pm2's apps" 30 bash -c "$(declare -f health); health $D1 && health $D2"; then
	ok "pm2 runs web1 on $D1 and web2 (cluster, 2 workers) on $D2"
else
	not_ok "pm2 runs web1 and web2" "$(tail -n 5 "$T/pm2.log")"
fi
pm2u "$PM2" save >>"$T/pm2.log" 2>&1
check "pm2 save wrote dump.pm2" test -s "$T/pm2home/dump.pm2"
pm2u "$PM2" kill >>"$T/pm2.log" 2>&1
pm2_gone() { ! pgrep -u "$APP_USER" -f 'PM2 v.*God Daemon' >/dev/null && ! health "$D1" && ! health "$D2"; }
if wait_for "pm2 gone" 10 pm2_gone; then
	ok "pm2 kill: no God Daemon, nothing on the ports"
else
	not_ok "pm2 kill: no God Daemon, nothing on the ports"
fi

runuser -u "$APP_USER" -- "$TENDCTL" import pm2 --env-dir "$T/uenv" \
    "$T/pm2home/dump.pm2" >"$T/dump.conf" 2>"$T/dump.err"
check "import of dump.pm2 (as the app's user) exits 0" test $? = 0
check "one section per app, not per instance" \
    test "$(grep -c '^\[app:' "$T/dump.conf")" = 2
check "web1: its port" bash -c "sed -n '/^\[app:web1\]/,/^\[/p' $T/dump.conf | grep -qx 'port = $D1'"
check "web2: its port, 2 instances" bash -c "sed -n '/^\[app:web2\]/,\$p' $T/dump.conf | grep -qx 'port = $D2' && sed -n '/^\[app:web2\]/,\$p' $T/dump.conf | grep -qx 'instances = 2'"
check "web2: heap and max_memory" bash -c "sed -n '/^\[app:web2\]/,\$p' $T/dump.conf | grep -qx 'heap = 200M' && sed -n '/^\[app:web2\]/,\$p' $T/dump.conf | grep -qx 'max_memory = 300M'"
check "web2: kill_timeout" has "$T/dump.conf" "kill_timeout = 4000ms"
check "pm_exec_path -> command" has "$T/dump.conf" "command = $NODE $T/app/server.js"
check "user = the dump's owner" has "$T/dump.conf" "user = $APP_USER"
check "the shell's variables are named as not imported" \
    grep -q '^; not imported from the environment PM2 saved.*PM2_HOME' "$T/dump.conf"
check "PM2's defaults and its runtime state are not listed as settings" \
    bash -c "! grep -Eq '^; (treekill|vizion|namespace|instance_var|pm_id|status|axm_[a-z]*|[A-Z_]+):' $T/dump.conf"
check "no session secret on stdout" lacks "$T/dump.conf" "$SESSION"
check "web1's secret in its env_file" grep -q "^SESSION_SECRET=\"$SESSION\"$" "$T/uenv/web1.env"

# --- the sections pass tendd -t, and tendd runs them ---------------------------
TEND_EXTRA="" tend_conf < <(cat "$T/js.conf" "$T/json.conf" "$T/yaml.conf" "$T/dump.conf")
check "tendd -t accepts every imported section" "$TENDD" -t -c "$T/tend.conf"
tendd_start || { not_ok "tendd starts"; done_testing; }
for p in "$P" "$((P + 1))" "$Q" "$R" "$D1" "$D2" "$((D2 + 1))"; do
	if wait_for "port $p" 20 health "$p"; then
		ok "an imported app answers /health on $p"
	else
		not_ok "an imported app answers /health on $p"
	fi
done
check "tendd runs web1 on the port PM2 ran it on, as the app's user" \
    test "$(ps -o user= -p "$(curl -fsS "127.0.0.1:$D1/pid")")" = "$APP_USER"
check "the dump's secret reaches web1 from its env_file" test "$(appenv "$D1" SESSION_SECRET)" = "$SESSION"
check "the JS file's secret reaches api from its env_file" test "$(appenv "$P" JWT_SECRET)" = "$JWT"
check "env_production reaches api" test "$(appenv "$((P + 1))" NODE_ENV)" = production
check "heap = 256M reaches api's NODE_OPTIONS" \
    bash -c "curl -fsS 127.0.0.1:$P/heap | jq -r .node_options | grep -qx -- --max-old-space-size=256"
check "the YAML app's token reaches it" test "$(appenv "$R" API_TOKEN)" = "$TOKEN"

# --- errors: named, exit 1, nothing half-done; usage: exit 2 ----------------------
err() {	# DESC WANT_RC GREP CMD...: exit status, message, empty stdout
	local desc=$1 want=$2 pat=$3 rc
	shift 3
	"$@" >"$T/e.out" 2>"$T/e.err"
	rc=$?
	if [ "$rc" = "$want" ] && grep -q -- "$pat" "$T/e.err" && [ ! -s "$T/e.out" ]; then
		ok "$desc"
	else
		not_ok "$desc" "exit $rc (want $want)" "stderr: $(head -c 300 "$T/e.err")" \
		    "stdout: $(head -c 200 "$T/e.out")"
	fi
}
mkdir -p "$T/e"
printf '{"apps": [{"name": "x", "script": "a.js"}\n' > "$T/e/bad.json"
chown "$APP_USER:" "$T/e/bad.json"
err "bad JSON (nor JavaScript): the file and line, exit 1" 1 "^tendctl: $T/e/bad.json: line 2: .*nor is it JavaScript" \
    "$TENDCTL" import pm2 --env-dir "$T/e" "$T/e/bad.json"
printf '[{"name": "x",\n' > "$T/e/dump.pm2"
err "a bad dump.pm2 is JSON only: never handed to node" 1 "^tendctl: $T/e/dump.pm2: line 2: [^;]*$" \
    "$TENDCTL" import pm2 --env-dir "$T/e" "$T/e/dump.pm2"
printf 'apps: [ {name: x\n' > "$T/e/bad.yaml"
err "bad YAML: the file and line, exit 1" 1 "^tendctl: $T/e/bad.yaml: line" \
    "$TENDCTL" import pm2 --env-dir "$T/e" "$T/e/bad.yaml"
printf '{"apps": []}' > "$T/e/secret.json"
chmod 600 "$T/e/secret.json"
err "unreadable file: exit 1, named" 1 "^tendctl: $T/e/secret.json: Permission denied" \
    runuser -u "$APP_USER" -- "$TENDCTL" import pm2 --env-dir "$T/uenv" "$T/e/secret.json"
err "no apps: exit 1" 1 "no apps" "$TENDCTL" import pm2 "$T/e/secret.json"
err "missing file: exit 1" 1 "No such file" "$TENDCTL" import pm2 "$T/e/none.json"
err "node missing: exit 1, says so" 1 "cannot run node" \
    env PATH=/nonexistent "$TENDCTL" import pm2 --env-dir "$T/e" "$T/ecosystem.config.js"
printf 'while (true) {}\n' > "$T/e/loop.config.js"
chown "$APP_USER:" "$T/e/loop.config.js"
err "an ecosystem file that never ends: killed, exit 1" 1 "did not finish within 1000 ms" \
    "$TENDCTL" import pm2 --timeout 1s "$T/e/loop.config.js"
check "the looping node is gone" bash -c "! pgrep -f '$T/e/[l]oop.config.js'"
printf 'module.exports = { apps: [\n' > "$T/e/syntax.config.js"
chown "$APP_USER:" "$T/e/syntax.config.js"
err "a JS syntax error: exit 1, node's reason" 1 "SyntaxError" \
    "$TENDCTL" import pm2 "$T/e/syntax.config.js"
printf "module.exports = { apps: [{ script: 'a.js', args: ['--db', 'postgres://u:$DBPW@db/x'] }] };\n" > "$T/e/argpw.config.js"
chown "$APP_USER:" "$T/e/argpw.config.js"
err "a password in a URL in args: exit 1, not printed" 1 "URL with a password" \
    "$TENDCTL" import pm2 --env-dir "$T/e" "$T/e/argpw.config.js"
check "nor on stderr" lacks "$T/e.err" "$DBPW"
mkdir -m 777 "$T/e/open"
printf 'module.exports = { apps: [{ script: "a.js" }] };\n' > "$T/e/open/eco.config.js"
err "root refuses to evaluate a file in a directory anyone may write" 1 \
    "its directory may be written by others" "$TENDCTL" import pm2 "$T/e/open/eco.config.js"
cp "$T/env/api.env" "$T/e/api.env.before"
cp "$T/env/api.env" "$T/e/api.env"
err "an existing env file is not overwritten: exit 1" 1 "api.env: File exists" \
    "$TENDCTL" import pm2 --env-dir "$T/e" "$T/ecosystem.config.js"
check "the existing env file is unchanged" cmp -s "$T/e/api.env" "$T/e/api.env.before"
err "usage: no FILE, exit 2" 2 "^usage: tendctl import pm2 FILE" "$TENDCTL" import pm2
err "usage: not pm2, exit 2" 2 "^usage:" "$TENDCTL" import supervisor "$T/ecosystem.json"
err "usage: bad --timeout, exit 2" 2 "timeout" "$TENDCTL" import pm2 --timeout soon "$T/ecosystem.json"
done_testing
