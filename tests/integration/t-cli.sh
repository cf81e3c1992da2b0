#!/usr/bin/env bash
# tendctl's conventions: --help and help [CMD] on stdout with exit 0,
# --version on both programs, errors as "tendctl: ...", a usage error's
# own usage, exit 3 with a socket_group hint on a refused socket, one
# confirmation line for start/stop/restart (none with -q), and the bash
# completion (commands, options, the apps of the running tendd).
. "$(dirname "$0")/../lib.sh"

out=$("$TENDCTL" --help | head -n 3); rc=${PIPESTATUS[0]}
check "tendctl --help | head exits 0 (got $rc)" test "$rc" = 0
check "and the usage is on stdout" grep -q '^usage: tendctl' <<<"$out"
out=$("$TENDCTL" --help 2>/dev/null)
for c in status start stop restart logs deploy reread top help; do
	grep -q "^  $c\b" <<<"$out" || not_ok "--help lists $c"
done
check "--help lists every command of the table and top, help" test "$FAILED" = 0
check "--help lists the global options: --socket" grep -q -- '--socket PATH' <<<"$out"
out=$("$TENDCTL" help deploy); rc=$?
check "help deploy exits 0" test "$rc" = 0
check "help deploy shows its usage" grep -q '^usage: tendctl .*deploy APP \[REF\]' <<<"$out"
check "and says what it does" grep -q 'switch to it' <<<"$out"
out=$("$TENDCTL" restart --help); rc=$?
check "restart --help exits 0 with restart's options" bash -c "[ $rc = 0 ] && grep -q -- '--no-wait' <<<'$out' && grep -q -- '--quiet' <<<'$out'"
out=$("$TENDCTL" help nosuch 2>&1); rc=$?
check "help of an unknown command exits 2" test "$rc" = 2
check "naming it" grep -q '^tendctl: unknown command nosuch' <<<"$out"

commit=$(git -C "$SRCDIR" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
for v in --version -V; do
	out=$("$TENDCTL" $v); rc=$?
	check "tendctl $v exits 0 and names version and commit ($out)" \
	    bash -c "[ $rc = 0 ] && grep -Eq '^tendctl [0-9.]+ \(commit $commit(-dirty)?\)$' <<<'$out'"
	out=$("$TENDD" $v); rc=$?
	check "tendd $v exits 0 and names version and commit ($out)" \
	    bash -c "[ $rc = 0 ] && grep -Eq '^tendd [0-9.]+ \(commit $commit(-dirty)?\)$' <<<'$out'"
done
out=$("$TENDD" --help); rc=$?
check "tendd --help: stdout, exit 0" bash -c "[ $rc = 0 ] && grep -q '^usage: tendd' <<<'$out'"

out=$("$TENDCTL" logs --bogus web 2>&1); rc=$?
check "an unknown option exits 2" test "$rc" = 2
check "prefixed tendctl:, not the command" grep -q '^tendctl: unknown option --bogus for logs$' <<<"$out"
check "followed by that command's usage only" bash -c "grep -q '^usage: tendctl .*logs APP' <<<'$out' && ! grep -q 'deploy APP' <<<'$out'"
out=$("$TENDCTL" logs web -n 2>&1); rc=$?
check "a missing option value exits 2 and says so" bash -c "[ $rc = 2 ] && grep -q '^tendctl: option -n needs a value' <<<'$out'"
out=$("$TENDCTL" restart 2>&1); rc=$?
check "restart without an app exits 2, naming what is missing" bash -c "[ $rc = 2 ] && grep -q '^tendctl: restart needs an app name (or all)' <<<'$out'"
out=$("$TENDCTL" -Z status 2>&1); rc=$?
check "an unknown global option exits 2 as tendctl:" bash -c "[ $rc = 2 ] && grep -q '^tendctl: unknown option -Z' <<<'$out'"

# A daemon with two apps, its socket in a group the test makes.
G=tendcli$$
groupadd --system "$G" || { not_ok "groupadd"; done_testing; }
on_exit "groupdel $G"
app_user || { not_ok "app user"; done_testing; }
TEND_EXTRA="socket_group = $G" tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = sleep 1000
min_ready = 100ms

[app:worker]
dir = $SRCDIR/tests/app
command = sleep 1000
min_ready = 100ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for "both live" 10 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '[.apps[] | select(.state == \"live\")] | length')\" = 2 ]"

out=$(as_app "$TENDCTL" -s "$T/tend.sock" status 2>&1); rc=$?
check "a user outside socket_group gets exit 3 (got $rc)" test "$rc" = 3
check "the message names the socket and the refusal" grep -q "^tendctl: cannot reach tendd at $T/tend.sock: Permission denied" <<<"$out"
check "and hints at socket_group and its group" grep -q "members of group $G (socket_group in tend.conf)" <<<"$out"

out=$(tctl restart web); rc=$?
check "restart web exits 0" test "$rc" = 0
pid=$(json web pid)
check "and confirms in one line: state, pid, ready time ($out)" \
    grep -Eqx "web: live, pid $pid, ready in [0-9]+ ms" <<<"$out"
out=$(tctl stop web); rc=$?
check "stop web confirms: web: stopped" bash -c "[ $rc = 0 ] && [ '$out' = 'web: stopped' ]"
out=$(tctl start all)
check "start all: a line per app" bash -c "[ \$(grep -Ec '^(web|worker): live, pid [0-9]+' <<<'$out') = 2 ]"
out=$(tctl -q restart web); rc=$?
check "-q silences the confirmation" bash -c "[ $rc = 0 ] && [ -z '$out' ]"
out=$(tctl restart web -q); rc=$?
check "after the command too" bash -c "[ $rc = 0 ] && [ -z '$out' ]"
out=$(tctl -q stop nosuch 2>&1); rc=$?
check "-q keeps errors: exit 1 with tendctl: no app named" bash -c "[ $rc = 1 ] && grep -q '^tendctl: no app named nosuch' <<<'$out'"

# Completion, as bash loads it.
C=$SRCDIR/etc/completion/tendctl
out=$(bash -c "source '$C' && complete -p tendctl")
check "the completion script registers for tendctl" grep -q -- '-F _tendctl tendctl$' <<<"$out"
comp() {	# comp WORD... : what completing the last word offers
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _tendctl; printf "%s\n" "${COMPREPLY[@]}"' \
	    comp "$C" "$TENDCTL" -c "$T/tend.conf" "$@" | LC_ALL=C sort | xargs
}
check "command names: re -> releases reload reread restart" test "$(comp re)" = "releases reload reread restart"
check "commands include top" test "$(comp t)" = top
check "and help" test "$(comp he)" = help
check "apps from the running tendd, and all, for restart" test "$(comp restart '')" = "all web worker"
check "compgen filters them: w -> web worker" test "$(comp logs w)" = "web worker"
check "options of a command: --no-wait for stop" grep -q -- '--no-wait' <<<"$(comp stop --)"
check "help completes commands" grep -q deploy <<<"$(comp help '')"
check "options of deploy: --fleet and --wait" bash -c 'grep -qx -- --fleet <<<"$1" && grep -qx -- --wait <<<"$1"' _ "$(comp deploy web -- | tr ' ' '\n')"
check "status offers --fleet, releases no --wait" bash -c 'grep -qx -- --fleet <<<"$1" && ! grep -qx -- --wait <<<"$2"' _ "$(comp status -- | tr ' ' '\n')" "$(comp releases web -- | tr ' ' '\n')"
check "help rollback names --fleet and --wait" bash -c '"$1" help rollback | grep -q -- "--fleet" && "$1" help rollback | grep -q -- "--wait"' _ "$TENDCTL"
check "no app after the app" test "$(comp deploy web '')" = ""
# Without -c, tendctl finds the daemon through TEND_SOCKET, as the user's
# own tendctl would.
out=$(TEND_SOCKET=$T/tend.sock bash -c 'source "$1"; COMP_WORDS=("$2" start w); COMP_CWORD=2; _tendctl; printf "%s\n" "${COMPREPLY[@]}"' comp "$C" "$TENDCTL" | LC_ALL=C sort | xargs)
check "through TEND_SOCKET too" test "$out" = "web worker"
# A candidate is a word, never code: a socket of someone else's could
# hand back names with $(...) or backquotes in them.
cat > "$T/evil-ctl" <<EOF2
#!/bin/sh
printf '%s\n' 'x\$(touch $T/pwned1)' 'x\`touch $T/pwned2\`'
EOF2
chmod +x "$T/evil-ctl"
out=$(bash -c 'source "$1"; COMP_WORDS=("$2" start x); COMP_CWORD=2; _tendctl; printf "%s\n" "${COMPREPLY[@]}"' comp "$C" "$T/evil-ctl")
check "completion runs nothing of what it is offered" \
    test ! -e "$T/pwned1" -a ! -e "$T/pwned2"
check "and offers those words as they are" grep -qF 'x$(touch' <<<"$out"

# zsh: compinit registers _tendctl for tendctl; the function, run with
# compadd and _files stood in for, offers what bash's does.
if command -v zsh >/dev/null; then
	Z=$SRCDIR/etc/completion
	out=$(zsh -f -c "fpath=($Z \$fpath); autoload -U compinit; compinit -u -D; print \$_comps[tendctl]")
	check "zsh: compinit picks _tendctl for tendctl ($out)" test "$out" = _tendctl
	zcomp() {
		zsh -f -c 'compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
		    _files() { print FILES; }
		    words=("${@:2}"); CURRENT=$(( $# - 1 )); source "$1"' \
		    zcomp "$Z/_tendctl" "$TENDCTL" -c "$T/tend.conf" "$@" | LC_ALL=C sort | xargs
	}
	check "zsh: apps and all for restart" test "$(zcomp restart '')" = "all web worker"
	out=$(zcomp '')
	check "zsh: the commands, top and help among them ($out)" bash -c "for c in status restart deploy top help; do grep -qw \$c <<<'$out' || exit 1; done"
	check "zsh: a file after -c" test "$(zsh -f -c 'compadd() { print -l -- "$@"; }; _files() { print FILES; }; words=(tendctl -c ""); CURRENT=3; source "$1"' z "$Z/_tendctl")" = FILES
else
	not_ok "zsh is installed (setup test)"
fi
done_testing
